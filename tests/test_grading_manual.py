"""Written questions graded by hand: ``course-grade review`` and ``course-grade merge``.

The round trip runs on a real topic: grade a small batch, export the written answers,
fill in the score sheet, merge, and check grades.csv, results.json and feedback.md.
"""

from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from course_utils.grading import GradingError
from course_utils.grading._grader import Limits, grade_submissions
from course_utils.grading._manual import load_manual, merge_scores, write_reviews
from course_utils.grading._spec import load_spec

sys.path.insert(0, str(Path(__file__).parent))
from test_grading import GRADESCOPE_SCHEMA  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "08_volume_metrics"
# the problem sets of issue 21; a new topic joins this list when it gets its written question
TOPICS = [
    "01_mle",
    "02_odes",
    "03_change_of_variables",
    "04_svd",
    "05_normalizing_flows",
    "06_cnf",
    "07_flow_matching",
    "08_volume_metrics",
]
LIMITS = Limits(timeout=20.0, submission_timeout=300.0, memory_mb=2048)


def _course(cell):
    return cell.get("metadata", {}).get("course", {})


def _submission(path: Path, *, solved: bool, written: dict[str, str]) -> Path:
    """The released exercise, answer cells filled from the solution if ``solved``."""
    ex = json.loads((ROOT / "exercises" / f"{TOPIC}.ipynb").read_text())
    sol = json.loads((ROOT / "solutions" / f"{TOPIC}.ipynb").read_text())
    by_id = {c["id"]: c for c in sol["cells"]}
    nb = copy.deepcopy(ex)
    for c in nb["cells"]:
        meta = _course(c)
        if meta.get("role") != "answer":
            continue
        if c["cell_type"] == "markdown":
            c["source"] = written.get(meta["question"], c["source"])
        elif solved:
            c["source"] = by_id[c["id"]]["source"]
    path.write_text(json.dumps(nb))
    return path


def _read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def _fill(sheet: Path, scores: dict[tuple[str, str], tuple[str, str]], out: Path) -> Path:
    rows = _read_csv(sheet)
    for r in rows:
        r["points"], r["comment"] = scores[(r["submission"], r["question"])]
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_has_a_written_question_with_rubric(topic):
    qs = load_manual(ROOT, topic)
    assert qs, f"{topic} has no written question"
    for q in qs:
        assert "Rubric" in q.rubric and q.points > 0 and q.task
    # the rubric never reaches the released exercise
    ex = (ROOT / "exercises" / f"{topic}.ipynb").read_text()
    assert "Rubric" not in ex


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("manual")
    alice = _submission(
        tmp / "alice.ipynb", solved=True, written={"q6": "The Jacobian maps spheres to ellipsoids."}
    )
    bob = _submission(tmp / "bob.ipynb", solved=False, written={})
    out = tmp / "graded"
    reports = grade_submissions(TOPIC, [alice, bob], out, root=ROOT, limits=LIMITS)
    return tmp, [alice, bob], out, reports


def test_round_trip(graded):
    tmp, subs, out, reports = graded
    auto_max = sum(q.points for q in load_spec(ROOT / "grading" / f"{TOPIC}.py"))
    (manual,) = load_manual(ROOT, TOPIC)
    assert [r["total"] for r in reports] == [auto_max, 0]
    # before merge, grade's own output lists the written question: 0 of N so far
    assert [r["max_total"] for r in reports] == [auto_max + manual.points] * 2
    grades = {r["submission"]: r for r in _read_csv(out / "grades.csv")}
    header = list(next(iter(grades.values())))
    assert header.index(manual.id) < header.index("total") and header[-1] == "isolation"
    assert grades["alice"][manual.id] == "0" and float(grades["alice"]["total"]) == auto_max
    assert float(grades["alice"]["max_total"]) == auto_max + manual.points
    res = json.loads((out / "alice" / "results.json").read_text())
    jsonschema.validate(res, GRADESCOPE_SCHEMA)
    (pending,) = [t for t in res["tests"] if t["name"].endswith("(graded by hand)")]
    assert pending["score"] == 0 and pending["max_score"] == manual.points
    assert "status" not in pending and "Pending" in pending["output"]
    assert res["score"] == auto_max == sum(t["score"] for t in res["tests"])
    fb = (out / "alice" / "feedback.md").read_text()
    assert f"{auto_max:g} / {auto_max + manual.points:g} points" in fb
    assert f"({manual.id}): {manual.title}: 0 / {manual.points:g} points so far" in fb
    numbers = [t["number"] for t in res["tests"]]
    assert numbers == sorted(numbers, key=lambda n: [int(x) for x in n.split(".")])

    review = tmp / "review"
    written = write_reviews(TOPIC, subs, review, root=ROOT)
    text = (review / f"{manual.id}.md").read_text()
    assert "The Jacobian maps spheres to ellipsoids." in text
    assert "### bob" in text and "*(not answered)*" in text
    assert manual.rubric.splitlines()[0] in text
    assert written[-1] == review / "scores.csv"
    rows = _read_csv(review / "scores.csv")
    assert [(r["submission"], r["question"], r["points"]) for r in rows] == [
        ("alice", manual.id, ""),
        ("bob", manual.id, ""),
    ]

    sheet = _fill(
        review / "scores.csv",
        {
            ("alice", manual.id): ("2.5", "clear, misses the O(r^2) order"),
            ("bob", manual.id): ("0", ""),
        },
        tmp / "filled.csv",
    )
    before = (out / "grades.csv").read_text()
    merge_scores(out, sheet, root=ROOT)
    grades = {r["submission"]: r for r in _read_csv(out / "grades.csv")}
    assert float(grades["alice"]["total"]) == auto_max + 2.5
    assert float(grades["alice"][manual.id]) == 2.5
    assert float(grades["bob"]["total"]) == 0
    assert float(grades["alice"]["max_total"]) == auto_max + manual.points
    assert list(grades["alice"]) == header  # same columns, isolation kept
    assert grades["alice"]["isolation"] == reports[0]["isolation"]
    assert (out / "backup-1" / "grades.csv").read_text() == before

    res = json.loads((out / "alice" / "results.json").read_text())
    jsonschema.validate(res, GRADESCOPE_SCHEMA)
    assert res["score"] == auto_max + 2.5
    assert sum(t["score"] for t in res["tests"]) == res["score"]
    hand = [t for t in res["tests"] if t["name"].endswith("(graded by hand)")]
    assert len(hand) == 1 and hand[0]["score"] == 2.5 and hand[0]["max_score"] == manual.points
    assert hand[0]["name"] == pending["name"] and hand[0]["number"] == pending["number"]
    assert "misses the O(r^2) order" in hand[0]["output"]
    fb = (out / "alice" / "feedback.md").read_text()
    assert f"{auto_max + 2.5:g} / {auto_max + manual.points:g} points" in fb
    assert "misses the O(r^2) order" in fb
    assert fb.count("Written answers (graded by hand)") == 1 and "points so far" not in fb

    # a corrected sheet replaces the hand-graded points instead of adding to them
    sheet2 = _fill(
        review / "scores.csv",
        {("alice", manual.id): ("3", "regraded"), ("bob", manual.id): ("1", "some idea")},
        tmp / "filled2.csv",
    )
    merge_scores(out, sheet2, root=ROOT)
    grades = {r["submission"]: r for r in _read_csv(out / "grades.csv")}
    assert float(grades["alice"]["total"]) == auto_max + 3
    assert float(grades["bob"]["total"]) == 1
    res = json.loads((out / "bob" / "results.json").read_text())
    assert res["score"] == 1 and sum(t["score"] for t in res["tests"]) == 1
    fb = (out / "alice" / "feedback.md").read_text()
    assert fb.count("Written answers (graded by hand)") == 1 and "regraded" in fb
    assert (out / "backup-2").is_dir()


@pytest.mark.parametrize(
    "row, message",
    [
        (("carol", "q6", "1"), "unknown submission 'carol'"),
        (("alice", "q9", "1"), "unknown question 'q9'"),
        (("alice", "q6", "4"), "must be from 0 to 3, got 4"),
        (("alice", "q6", "-1"), "must be from 0 to 3, got -1"),
        (("alice", "q6", "three"), "must be a number from 0 to 3, got 'three'"),
        (("alice", "q6", ""), "no points for alice q6"),
    ],
)
def test_bad_sheets_are_rejected_and_nothing_changes(graded, tmp_path, row, message):
    _, _, out, _ = graded
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    sheet = tmp_path / "bad.csv"
    with sheet.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["topic", "submission", "question", "max_points", "points", "comment"])
        w.writerow([TOPIC, "bob", "q6", "3", "1", ""])
        w.writerow([TOPIC, *row[:2], "3", row[2], ""])
    with pytest.raises(GradingError, match="not valid") as err:
        merge_scores(out, sheet, root=ROOT)
    assert message in str(err.value)
    if row[0] != "alice" or row[1] != "q6":
        assert "no score for alice q6" in str(err.value)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_cli_merge_reports_errors(graded, tmp_path):
    _, _, out, _ = graded
    sheet = tmp_path / "dup.csv"
    sheet.write_text(
        f"topic,submission,question,max_points,points,comment\n{TOPIC},alice,q6,3,1,\n"
        f"{TOPIC},alice,q6,3,2,\n{TOPIC},bob,q6,3,0,\n"
    )
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "course_utils.grading",
            "--root",
            ROOT,
            "merge",
            out,
            "--scores",
            sheet,
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert "a second row for alice q6" in p.stderr
