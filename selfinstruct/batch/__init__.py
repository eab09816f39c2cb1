"""Batch mode: requests go into batch input files for the OpenAI Batch API (half price, answers
within hours) or ``vllm run-batch``, instead of being sent one by one.

:class:`~selfinstruct.batch.backend.BatchBackend` is a backend like any other: the engine and
the methods do not know that their requests wait for a batch. Every request is a line named by
its response-cache key (its ``custom_id``), so how requests are grouped into files never changes
what is written, and answers are matched by that name, whatever order a result file is in.
"""
