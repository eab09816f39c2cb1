"""templatize (issue 23): labelled datasets rendered through instruction templates, FLAN's way.

Three tasks written here (a three-label classification in CSV with a rationale column, an
extractive QA set in JSONL, a summarisation set in Parquet) go through the bundled templates
with no model, and through templates the fake model writes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from helpers import kill_at, records

import selfinstruct as si
from selfinstruct.cli import main
from selfinstruct.errors import UserError
from selfinstruct.methods.templatize.templates import bundled_templates

LABELS = ["negative", "neutral", "positive"]
ADJECTIVES = {"negative": "dull", "neutral": "fine", "positive": "wonderful"}


def write_data(folder: Path, reviews: int = 60) -> Path:
    """The three datasets and their task file; returns the task file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    lines = ["review,sentiment,why"]
    for i in range(reviews):
        label = LABELS[i % 3]
        lines.append(f'"Review {i}: the film was {ADJECTIVES[label]}, scene {i * 7}.",{label},'
                     f'"The review calls the film {ADJECTIVES[label]}."')  # fmt: skip
    (folder / "reviews.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open(folder / "qa.jsonl", "w", encoding="utf-8") as handle:
        for i in range(40):
            city = f"City{i}"
            handle.write(json.dumps({
                "context": f"Country {i} has {city} as its capital, founded in year {1000 + i}.",
                "question": f"What is the capital of country {i}?",
                "answer": city,
            }) + "\n")  # fmt: skip
    table = pa.table({
        "article": [f"Article {i}. " + " ".join(f"Sentence {j} of story {i}." for j in range(5))
                    for i in range(50)],
        "highlights": [f"Story {i} in five sentences." for i in range(50)],
    })  # fmt: skip
    pq.write_table(table, folder / "news.parquet")
    tasks = folder / "tasks.toml"
    tasks.write_text(
        '[[task]]\nname = "sentiment"\ntype = "classification"\ndata = "reviews.csv"\n'
        'labels = ["negative", "neutral", "positive"]\n'
        'description = "Decide the sentiment of a movie review."\n'
        'columns = { text = "review", label = "sentiment", rationale = "why" }\n\n'
        '[[task]]\nname = "capitals"\ntype = "extractive_qa"\ndata = "qa.jsonl"\n\n'
        '[[task]]\nname = "news"\ntype = "summarization"\ndata = "news.parquet"\n'
        'columns = { document = "article", summary = "highlights" }\n',
        encoding="utf-8",
    )
    return tasks


@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    return write_data(tmp_path / "in")


def run(tasks: Path, out: Path, model=None, **values):
    model = model or FakeBackend()
    settings = si.settings("templatize", model, task_file=tasks, **values)
    result = si.run(settings, model, out)
    assert result.stop is si.StopKind.COMPLETE, result.summary.stop_reason
    return records(out / "tasks.jsonl"), model


def test_rows_per_task_under_the_cap_mixed_in_proportion(tmp_path: Path, tasks: Path):
    rows, model = run(tasks, tmp_path / "out", cap=45)
    assert model.requests == []  # no template writing: no model asked
    assert Counter(r["source_task"] for r in rows) == {"sentiment": 45, "capitals": 40, "news": 45}
    assert len({r["id"] for r in rows}) == len(rows)
    first = Counter(r["source_task"] for r in rows[:26])  # 26 of 130: 9, 8, 9 in proportion
    assert all(abs(first[t] - 26 * n / 130) <= 1.5 for t, n in
               (("sentiment", 45), ("capitals", 40), ("news", 45)))  # fmt: skip
    for r in rows:
        assert r["instruction"] and r["instances"][0]["output"] and r["instances"][0]["input"] == ""
        assert r["template"].startswith(r["family"] + "/")
    # A smaller --n takes the first examples of the same mixture.
    fewer, _ = run(tasks, tmp_path / "fewer", cap=45, n=20)
    assert fewer == rows[:20]


def test_a_run_with_no_template_writing_does_not_load_the_bundled_model(tmp_path, tasks):
    model = si.backend()  # the bundled model, built lazily
    rows, _ = run(tasks, tmp_path / "out", model=model)
    assert len(rows) == 150
    assert model._contexts == {}  # llama.cpp never loaded the weights


def test_every_classification_row_lists_exactly_the_declared_labels(tmp_path, tasks):
    rows, _ = run(tasks, tmp_path / "out")
    sentiment = [r for r in rows if r["source_task"] == "sentiment"]
    classified = [r for r in sentiment if r["form"] != "inverted"]
    assert classified and len(classified) < len(sentiment)
    for r in classified:
        assert r["options"] == LABELS
        assert r["instruction"].endswith("\n\nOPTIONS:\n- negative\n- neutral\n- positive")
        listed = r["instruction"].rsplit("OPTIONS:\n", 1)[1].split("\n")
        assert listed == [f"- {label}" for label in LABELS]
        if r["form"] != "cot":
            assert r["is_classification"] is True
            assert r["instances"][0]["output"] in LABELS
    for r in sentiment:
        if r["form"] == "inverted":
            assert "options" not in r and r["is_classification"] is False
            assert r["instances"][0]["output"].startswith("Review ")
    assert not any("options" in r for r in rows if r["source_task"] != "sentiment")


def test_inverted_templates_appear_in_the_declared_share(tmp_path, tasks):
    rows, _ = run(tasks, tmp_path / "out", inverted_share=0.3)
    inverted = [r for r in rows if r["form"] == "inverted"]
    assert 0.2 <= len(inverted) / len(rows) <= 0.4
    names = {f"{k}/{t.name}" for k, ts in bundled_templates().items()
             for t in ts if t.kind == "inverted"}  # fmt: skip
    assert {r["template"] for r in inverted} <= names
    assert {r["template"] for r in rows if r["form"] != "inverted"}.isdisjoint(names)
    qa = [r for r in inverted if r["source_task"] == "capitals"]
    assert qa and all(r["instances"][0]["output"].startswith("What is the capital") for r in qa)
    none, _ = run(tasks, tmp_path / "none", inverted_share=0.0)
    assert not any(r["form"] == "inverted" for r in none)
    every, _ = run(tasks, tmp_path / "all", inverted_share=1.0, few_shot_share=0, cot_share=0)
    assert {r["form"] for r in every} == {"inverted"}


def test_few_shot_rows_never_show_their_own_row(tmp_path, tasks):
    rows, _ = run(tasks, tmp_path / "out", few_shot_share=1.0, inverted_share=0, cot_share=0,
                  shots=3)  # fmt: skip
    assert {r["form"] for r in rows} == {"few_shot"}
    for r in rows:
        assert len(r["exemplars"]) == 3 and r["row"] not in r["exemplars"]
        assert len(set(r["exemplars"])) == 3
    for r in (r for r in rows if r["source_task"] == "sentiment"):
        own = f"Review {r['row']}: "
        assert r["instruction"].count(own) == 1
        assert r["instruction"].rindex(own) > max(
            r["instruction"].index(f"Review {j}: ") for j in r["exemplars"]
        )
        blocks = r["instruction"].count("OPTIONS:")
        assert blocks == 4  # each exemplar and the row itself


def test_chain_of_thought_only_where_a_rationale_exists(tmp_path, tasks):
    rows, _ = run(tasks, tmp_path / "out", cot_share=1.0, inverted_share=0, few_shot_share=0)
    forms = {(r["source_task"], r["form"]) for r in rows}
    assert forms == {("sentiment", "cot"), ("capitals", "zero_shot"), ("news", "zero_shot")}
    for r in rows:
        if r["form"] == "cot":
            assert r["instances"][0]["output"].startswith("The review calls the film")


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_templates(tmp_path, tasks):
    run(tasks, tmp_path / "a", seed=4)
    run(tasks, tmp_path / "b", seed=4)
    other, _ = run(tasks, tmp_path / "c", seed=5)
    assert (tmp_path / "a/tasks.jsonl").read_bytes() == (tmp_path / "b/tasks.jsonl").read_bytes()
    assert [r["template"] for r in records(tmp_path / "a/tasks.jsonl")] != [
        r["template"] for r in other
    ]


def test_write_templates_against_the_fake_model(tmp_path, tasks):
    out = tmp_path / "out"
    rows, model = run(tasks, out, write_templates=5)
    assert [r.stage for r in model.requests] == ["template"] * 3
    assert "Decide the sentiment of a movie review." in model.requests[0].prompt
    log = records(out / "templates.jsonl")
    assert [(r["id"], len(r["templates"]), r["rejected"]) for r in log] == [
        ("sentiment", 4, 1),
        ("capitals", 4, 1),
        ("news", 4, 1),
    ]
    rejected = records(out / "rejected.jsonl")
    assert [(r["id"], r["stage"], r["reason"]) for r in rejected] == [
        ("sentiment.t5", "template", "render_error"),
        ("capitals.t5", "template", "render_error"),
        ("news.t5", "template", "render_error"),
    ]
    assert rejected[0]["detail"] == "UndefinedError: 'sentence' is undefined"
    assert "{{ sentence }}" in rejected[0]["text"]
    written = [r for r in rows if r["family"] == "model"]
    assert written and {r["template"].split("/")[1] for r in written} <= {
        f"{t}_{j}" for t in ("sentiment", "capitals", "news") for j in range(1, 5)
    }
    for r in written:
        if r["source_task"] == "sentiment" and r["form"] != "inverted":
            assert r["instances"][0]["output"] in LABELS
    # A resume reuses the logged templates: the model is not asked again.
    before = (out / "tasks.jsonl").read_bytes()
    again = FakeBackend()
    settings = si.settings("templatize", again, task_file=tasks, write_templates=5)
    assert si.run(settings, again, out).stop is si.StopKind.COMPLETE
    assert again.requests == []
    assert (out / "tasks.jsonl").read_bytes() == before


def test_stats_counts_per_task_family_and_template(tmp_path, tasks):
    out = tmp_path / "out"
    rows, _ = run(tasks, out, write_templates=2)
    result = CliRunner().invoke(main, ["stats", str(out), "--no-verbs"])
    assert result.exit_code == 0, result.output
    text = result.output
    per_task = Counter(r["source_task"] for r in rows)
    per_family = Counter(r["family"] for r in rows)
    per_template = Counter(r["template"] for r in rows)
    assert "Templatize\n  examples 150\n  per task\n" in text
    assert (
        f"    {'sentiment':<24}{per_task['sentiment']:>10,}  classification, 60 rows read" in text
    )
    for family, count in per_family.items():
        assert f"    {family:<40}{count:>10,}" in text
    for template, count in per_template.items():
        assert f"    {template:<40}{count:>10,}" in text
    assert "templates written by the model: 3 kept, 3 rejected (of 6 asked)" in text
    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["templatize"]["templates"]
        == dict(per_template) | summary["templatize"]["templates"]
    )
    assert summary["templatize"]["families"]["model"] == per_family["model"]


def test_own_templates_override_and_extend_the_bundled_ones(tmp_path, tasks):
    mine = tmp_path / "mine.jinja"
    mine.write_text(
        "{# type: summarization #}\n"
        "{# template summarize_1 #}\nMY OVERRIDE {{ document }}\n|||\n{{ summary }}\n"
        "{# template extra #}\nMY EXTRA {{ document }} ({{ task }})\n|||\n{{ summary }}\n",
        encoding="utf-8",
    )
    rows, _ = run(tasks, tmp_path / "out", template_files=[mine], inverted_share=0,
                  few_shot_share=0)  # fmt: skip
    news = {r["template"] for r in rows if r["source_task"] == "news"}
    assert "summarization/summarize_1" not in news
    assert {"mine/summarize_1", "mine/extra"} <= news
    with pytest.raises(UserError) as error:
        si.settings("templatize", FakeBackend(), task_file=tasks, template_files=[mine],
                    only_own_templates=True)  # fmt: skip
    assert str(error.value) == (
        f"{tasks}: task 'sentiment': no template for a classification task (with "
        "--only-own-templates, a template file must hold plain ones for it)"
    )


def test_a_template_that_fails_to_render_names_the_file_the_template_and_the_row(tmp_path, tasks):
    bad = tmp_path / "bad.jinja"
    bad.write_text("{# type: extractive_qa #}\n{# template broken #}\n{{ context }} {{ title }}"
                   "\n|||\n{{ answer }}\n", encoding="utf-8")  # fmt: skip
    result = CliRunner().invoke(main, ["templatize", str(tasks), "--templates", str(bad),
                                       "--out", str(tmp_path / "out"), "--quiet"])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {bad}: template 'broken' fails on {tasks.parent / 'qa.jsonl'} row 1 (task "
        "'capitals'): UndefinedError: 'title' is undefined\n"
    )
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ bad input


def edit(tasks: Path, old: str, new: str) -> None:
    text = tasks.read_text(encoding="utf-8")
    assert old in text
    tasks.write_text(text.replace(old, new), encoding="utf-8")


def refused(tmp_path: Path, tasks: Path, *extra: str) -> str:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["templatize", str(tasks), "--out", str(out), "--quiet",
                                       *extra])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert not out.exists()  # nothing half written
    assert result.stderr.count("\n") == 1
    return result.stderr


def test_an_unknown_column_is_one_line(tmp_path, tasks):
    edit(tasks, 'text = "review"', 'text = "reveiw"')
    assert refused(tmp_path, tasks) == (
        f"Error: {tasks}: task 'sentiment': column 'reveiw' (text) is not in "
        f"{tasks.parent / 'reviews.csv'} (columns: review, sentiment, why)\n"
    )


def test_an_empty_label_set_is_one_line(tmp_path, tasks):
    edit(tasks, 'labels = ["negative", "neutral", "positive"]', "labels = []")
    assert refused(tmp_path, tasks) == (
        f"Error: {tasks}: task 'sentiment': the label set is empty (list the labels, or leave "
        "labels out to read them from the data)\n"
    )


def test_an_undeclared_label_names_the_file_and_row(tmp_path, tasks):
    edit(tasks, 'labels = ["negative", "neutral", "positive"]', 'labels = ["negative", "positive"]')
    assert refused(tmp_path, tasks) == (
        f"Error: {tasks.parent / 'reviews.csv'}: row 2: label 'neutral' is not one of the "
        "declared labels (negative, positive) (task 'sentiment'; --skip-bad-rows skips such rows)\n"
    )


def test_a_missing_field_names_the_file_and_row_or_is_a_counted_skip(tmp_path, tasks):
    qa = tasks.parent / "qa.jsonl"
    lines = qa.read_text(encoding="utf-8").splitlines()
    broken = json.loads(lines[6])
    del broken["answer"]
    lines[6] = json.dumps(broken)
    qa.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert refused(tmp_path, tasks) == (
        f"Error: {qa}: row 7: has no 'answer' (answer) value (task 'capitals'; --skip-bad-rows "
        "skips such rows)\n"
    )
    rows, _ = run(tasks, tmp_path / "skipping", skip_bad_rows=True)
    capitals = [r for r in rows if r["source_task"] == "capitals"]
    assert len(capitals) == 39 and 6 not in {r["row"] for r in capitals}
    stats = CliRunner().invoke(main, ["stats", str(tmp_path / "skipping"), "--no-verbs"])
    assert (
        "    capitals                        39  extractive_qa, 40 rows read, 1 bad rows skipped"
        in stats.output
    )


def test_labels_are_read_from_the_data_when_not_given(tmp_path, tasks):
    edit(tasks, 'labels = ["negative", "neutral", "positive"]\n', "")
    rows, _ = run(tasks, tmp_path / "out")
    assert {tuple(r["options"]) for r in rows if "options" in r} == {tuple(LABELS)}


def test_a_datasets_folder_with_class_labels(tmp_path):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["no", "yes"])})
    data = Dataset.from_dict({"sentence": [f"Sentence {i}." for i in range(12)],
                              "label": [i % 2 for i in range(12)]}, features=features)  # fmt: skip
    DatasetDict({"train": data}).save_to_disk(str(tmp_path / "hf"))
    tasks = tmp_path / "tasks.toml"
    tasks.write_text('[[task]]\nname = "yn"\ntype = "classification"\ndata = "hf"\n'
                     'columns = { text = "sentence" }\n', encoding="utf-8")  # fmt: skip
    rows, _ = run(tasks, tmp_path / "out", inverted_share=0)
    assert len(rows) == 12
    assert all(r["options"] == ["no", "yes"] for r in rows)
    assert {r["instances"][0]["output"] for r in rows if r["form"] == "zero_shot"} <= {"no", "yes"}


# ------------------------------------------------------------------ kill -9 and resume


def test_killed_and_resumed_from_the_command_line_equals_a_straight_run(tmp_path):
    tasks = write_data(tmp_path / "in", reviews=30_000)

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "selfinstruct", "templatize", str(tasks), "--out",
                str(out), "--seed", "3", "--quiet"]  # fmt: skip

    straight = tmp_path / "straight"
    done = subprocess.run(command(straight), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "killed"
    kills = kill_at(command(out), out, (("tasks", 4000), ("tasks", 17000)))
    assert kills >= 1
    done = subprocess.run(command(out), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "tasks.jsonl").read_bytes() == (straight / "tasks.jsonl").read_bytes()
    assert len(records(out / "tasks.jsonl")) == 30_090


def test_a_yaml_task_file(tmp_path, tasks):
    yaml_file = tasks.parent / "tasks.yaml"
    yaml_file.write_text(
        "task:\n  - name: news\n    type: summarization\n    data: news.parquet\n"
        "    columns: {document: article, summary: highlights}\n",
        encoding="utf-8",
    )
    rows, _ = run(yaml_file, tmp_path / "out")
    assert len(rows) == 50 and {r["task_type"] for r in rows} == {"summarization"}
