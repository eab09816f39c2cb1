"""Model backends: the bundled llama.cpp model in-process, or any OpenAI-compatible server."""
