"""Protocol plumbing on synthetic data: pairs files, splits, ranks, scaling, groups, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.errors import InvalidInputError
from facetrail.evaluation import datasets, differentials, metrics, report, watchlist
from facetrail.evaluation.identification import search_outcomes, split_people
from facetrail.evaluation.runs import load_runs, save_run
from facetrail.evaluation.templates import TemplateSet, mirrored


def _touch(root: Path, name: str, number: int) -> Path:
    path = root / name / f"{name}_{number:04d}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_pairs_file_with_folds(tmp_path: Path) -> None:
    for name, count in (("Ann", 2), ("Bob", 2), ("Cy", 1), ("Di", 1)):
        for i in range(1, count + 1):
            _touch(tmp_path, name, i)
    text = "2\t1\nAnn\t1\t2\nCy\t1\tDi\t1\nBob\t1\t2\nAnn\t1\tBob\t2\n"
    (tmp_path / "pairs.txt").write_text(text)
    parsed = datasets.read_pairs(tmp_path / "pairs.txt", tmp_path)
    assert (parsed.folds, parsed.per_class) == (2, 1)
    assert [p.fold for p in parsed.pairs] == [0, 0, 1, 1]
    assert [p.same for p in parsed.pairs] == [True, False, True, False]
    assert parsed.pairs[0].b == tmp_path / "Ann" / "Ann_0002.jpg"
    assert parsed.pairs[3].identity_b == "Bob"


def test_pairs_file_errors_name_the_problem(tmp_path: Path) -> None:
    _touch(tmp_path, "Ann", 1)
    (tmp_path / "bad.txt").write_text("1\nAnn\t1\t2\nAnn\t1\tAnn\t1\n")
    with pytest.raises(InvalidInputError, match=r"image not found.*Ann_0002"):
        datasets.read_pairs(tmp_path / "bad.txt", tmp_path)
    (tmp_path / "short.txt").write_text("3\nAnn\t1\t1\n")
    with pytest.raises(InvalidInputError, match="6 lines, the file has 1"):
        datasets.read_pairs(tmp_path / "short.txt", tmp_path)
    (tmp_path / "header.txt").write_text("pairs\nAnn\t1\t1\n")
    with pytest.raises(InvalidInputError, match="first line"):
        datasets.read_pairs(tmp_path / "header.txt", tmp_path)


def test_aliases_merge_names_and_groups_need_columns(tmp_path: Path) -> None:
    (tmp_path / "aliases.txt").write_text("# label errors\nSung_Hong_Choi,Choi_Sung-hong\n")
    aliases = datasets.read_aliases(tmp_path / "aliases.txt")
    people = {"Choi_Sung-hong": [Path("b.jpg")], "Sung_Hong_Choi": [Path("a.jpg")]}
    assert datasets.merge_aliases(people, aliases) == {
        "Sung_Hong_Choi": [Path("a.jpg"), Path("b.jpg")]
    }
    (tmp_path / "groups.csv").write_text("name,label\nA,x\n")
    with pytest.raises(InvalidInputError, match="'identity' and 'group'"):
        datasets.read_groups(tmp_path / "groups.csv")
    (tmp_path / "groups.csv").write_text("identity,group\nA,x\nB,y\n")
    assert datasets.read_groups(tmp_path / "groups.csv") == {"A": "x", "B": "y"}


def test_split_is_seeded_and_follows_the_protocol() -> None:
    people = {f"p{i}": [Path(f"p{i}/{j}.jpg") for j in range(3)] for i in range(10)}
    people |= {f"s{i}": [Path(f"s{i}/0.jpg")] for i in range(4)}
    split = split_people(people, 0.4, seed=7)
    assert split == split_people(people, 0.4, seed=7)
    assert split != split_people(people, 0.4, seed=8)
    enrolled = {name for name, _ in split.gallery}
    mated_people = {name for name, _ in split.mated}
    nonmated_people = {name for name, _ in split.nonmated}
    assert len(mated_people) == 4 and len(nonmated_people) == 6
    assert mated_people | {f"s{i}" for i in range(4)} == enrolled  # singles are distractors
    assert not nonmated_people & enrolled
    assert len(split.mated) == 4 * 2 and len(split.nonmated) == 6 * 3
    with pytest.raises(InvalidInputError, match="enrolled-fraction"):
        split_people(people, 1.0, seed=0)


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_search_outcomes_ranks_by_hand() -> None:
    # gallery: A, B (enrolled), C (distractor); mated probes of A; a non-mated probe of D
    paths = [Path(p) for p in ("A0", "B0", "C0", "A1", "A2", "A3", "D0", "B1")]
    vectors = np.stack(
        [
            _unit(1, 0, 0),  # A0
            _unit(0, 1, 0),  # B0
            _unit(0, 0, 1),  # C0
            _unit(1, 0.1, 0),  # A1: mate first
            _unit(0.5, 1, 0),  # A2: B outranks the mate -> rank 2
            _unit(1, 1, 1),  # A3: all tie -> ties go against the mate -> rank 3
            _unit(0.2, 0.1, 1),  # D0: non-mated, top score is C's
            [np.nan] * 3,  # B1: no face found
        ]
    )
    found = ~np.isnan(vectors[:, 0])
    templates = TemplateSet(
        tuple(paths), tuple(str(p) for p in paths), found, {"sface": vectors}, 0, {}
    )
    from facetrail.evaluation.identification import Split

    split = Split(
        gallery=(("A", paths[0]), ("B", paths[1]), ("C", paths[2])),
        mated=(("A", paths[3]), ("A", paths[4]), ("A", paths[5]), ("B", paths[7])),
        nonmated=(("D", paths[6]),),
        distractors=1,
    )
    outcomes = search_outcomes(FaceAnalyzer.from_spec("yunet+sface"), split, templates)
    assert outcomes.mate_rank.tolist() == [1, 2, 3, 0]
    assert outcomes.rank1_mate_score[0] == pytest.approx(float(vectors[3] @ vectors[0]))
    assert np.isneginf(outcomes.rank1_mate_score[1:]).all()
    assert outcomes.nonmated_top[0] == pytest.approx(float(vectors[6] @ vectors[2]))
    assert metrics.cmc(outcomes.mate_rank, (1, 2, 3)) == {1: 0.25, 2: 0.5, 3: 0.75}


def test_watchlist_scaling_by_hand() -> None:
    assert watchlist.scaled_fpir(0.001, 1) == pytest.approx(0.001)
    assert watchlist.scaled_fpir(0.001, 1000) == pytest.approx(1 - 0.999**1000)
    impostors = np.sort(np.array([0.1, 0.2, 0.3, 0.6]))
    mates = np.array([0.9, 0.5, 0.3, -np.inf])
    # threshold 0.4: mates 0.9 (beats every impostor) and 0.5 (impostor 0.6 beats it with
    # chance 1/4 per entry) count; 0.3 and no-face do not. Size 3 -> two other entries.
    expected = (1 + (1 - 0.25) ** 2) / 4
    assert watchlist.scaled_tpir(mates, impostors, 0.4, 3) == pytest.approx(expected)
    # Inverse of scaled_fpir: 1 - (1 - f)^1000 = 0.01 -> f = 1 - 0.99^(1/1000).
    assert watchlist.comparison_fmr_for(0.01, 1000) == pytest.approx(1 - 0.99 ** (1 / 1000))
    ten = np.sort(np.arange(10) / 10)  # impostors 0.0 ... 0.9
    # FPIR 0.19 at size 1 allows FMR 0.19 -> 1 of 10 impostors may reach T: just above 0.8.
    above = watchlist.threshold_for_fpir(ten, 0.19, 1)
    assert above is not None and 0.8 < above <= 0.9
    assert watchlist.threshold_for_fpir(ten, 0.05, 1) is None  # needs more than 10 impostors
    # Size 2: FPIR 0.36 -> FMR 0.2 per comparison -> 2 impostors may reach T: above 0.7.
    two = watchlist.threshold_for_fpir(ten, 0.36, 2)
    assert two is not None and 0.7 < two <= 0.8
    assert watchlist.sentence(9756, 0.355, 9999.99, 0.03).startswith(
        "With a 9,756-image watchlist at threshold 0.355 expect about 10,000 false alerts"
    )
    text = watchlist.sentence(9756, 0.41, 1.6, 0.105)
    assert text == (
        "With a 9,756-image watchlist at threshold 0.410 expect about 1.6 false alerts per "
        "10,000 faces scanned and to miss 10.5% of people on it."
    )


def test_differentials_worst_to_best() -> None:
    summary = differentials.summarise(
        {"g1": {"fnir": 0.02, "fpir": 0.0}, "g2": {"fnir": 0.05, "fpir": 0.01}, "g3": {}}
    )
    ratios = summary["ratios"]
    assert ratios["fnir"] == {"worst": "g2", "best": "g1", "ratio": pytest.approx(2.5)}
    assert ratios["fpir"]["ratio"] is None  # best group has no errors: unbounded ratio
    assert differentials.group_of("X", {"Y": "g"}) is None


def test_mirrored_face_swaps_sides() -> None:
    landmarks = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32)
    face = Face(box=(20, 20, 60, 70), landmarks=landmarks, detector_score=0.9)
    flipped = mirrored(face, 100)
    assert flipped.box == (20, 20, 60, 70)
    # the subject's right eye (image-left, x=30) lands at 99-70=29 after the swap
    assert flipped.landmarks[0].tolist() == [29, 40]
    assert flipped.landmarks[2].tolist() == [49, 60]


def test_report_from_saved_runs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    genuine, impostor = rng.normal(0.6, 0.1, 200), rng.normal(0.1, 0.1, 2000)
    base = {
        "pipeline": "yunet+sface",
        "models": {"sface": "2021dec-int8bq"},
        "dataset": "synthetic",
        "measured_at": "2026-11-22T00:00:00+00:00",
        "inputs": {"images": "/data/x", "pairs": "/data/x/pairs.txt"},
    }
    eer = metrics.equal_error_rate(genuine, impostor)[0]
    pairs_result = {
        **base,
        "protocol": "pairs",
        "accuracy": 0.99,
        "std": 0.01,
        "folds": 10,
        "folds_from": "pairs file",
        "eer": eer,
        "fnmr_at_fmr": {"0.01": metrics.fnmr_at_fmr(genuine, impostor, 0.01).as_dict()},
        "fnmr_at_fmr_all_impostors": {},
        "all_impostor_comparisons": 0,
        "pairs": 2200,
        "images": 100,
        "threshold_all_pairs": 0.35,
    }
    ranks = rng.integers(1, 4, 300)
    identify_result = {
        **base,
        "protocol": "identify",
        "cmc": {"1": 0.9},
        "fnir_at_fpir": {"0.1": {"threshold": 0.3, "error": 0.1}},
        "mated_searches": 300,
        "nonmated_searches": 300,
        "gallery_size": 50,
        "enrolled_fraction": 0.5,
        "seed": 0,
    }
    folder = tmp_path / "evaluations"
    save_run(folder, pairs_result, {"genuine": genuine, "impostor": impostor})
    save_run(
        folder,
        identify_result,
        {
            "mate_rank": ranks,
            "mate_score": np.resize(genuine, 300),
            "rank1_mate_score": np.resize(genuine, 300),
            "nonmated_top": np.resize(impostor, 300),
        },
    )
    assert len(load_runs(folder)) == 2
    written = report.write_report(folder, tmp_path / "report")
    page = Path(written["html"]).read_text()
    for expected in ("2021dec-int8bq", "synthetic", "2026-11-22", "facetrail eval pairs"):
        assert expected in page
    names = {Path(p).name for p in written["plots"]}
    assert {"det_pairs.png", "det_identify.png", "cmc.png"} <= names
    for plot in written["plots"]:
        assert Path(plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidInputError, match="no saved evaluations"):
        report.write_report(tmp_path / "empty", tmp_path / "r2")


def test_several_images_per_subject_and_subject_scores() -> None:
    from facetrail.evaluation.identification import subject_scores

    people = {f"p{i}": [Path(f"p{i}/{j}.jpg") for j in range(4)] for i in range(6)}
    split = split_people(people, 0.5, seed=3, images_per_subject=3)
    enrolled = {name for name, _ in split.gallery}
    assert all(sum(n == name for n, _ in split.gallery) == 3 for name in enrolled)
    assert {n for n, _ in split.mated} == enrolled and len(split.mated) == len(enrolled)
    scores = np.array([[0.9, 0.1, 0.5, 0.2]])
    owners = np.array([0, 0, 0, 1])
    assert subject_scores(scores, owners, 2, "max").tolist() == [[0.9, 0.2]]
    assert np.allclose(subject_scores(scores, owners, 2, "mean-top-2"), [[0.7, 0.2]])


def test_subject_score_is_the_mean_of_the_best_k_or_fewer() -> None:
    from facetrail.biometrics.subject_score import subject_score, top_k

    assert [top_k(m) for m in ("max", "mean-top-2", "mean-top-3")] == [1, 2, 3]
    assert subject_score([0.2, 0.9, 0.5], top_k("max")) == 0.9
    assert subject_score([0.2, 0.9, 0.5], 2) == pytest.approx(0.7)
    assert subject_score([0.4], 3) == pytest.approx(0.4)  # fewer photos: their mean
    with pytest.raises(ValueError, match="mean-top-2"):
        top_k("mean")


def test_split_as_keeps_the_same_probes_for_one_to_three_enrolment_images() -> None:
    people = {f"p{i}": [Path(f"p{i}/{j}.jpg") for j in range(2 + i % 4)] for i in range(24)}
    splits = [
        split_people(people, 0.5, seed=1, images_per_subject=n, split_as=3) for n in (1, 2, 3)
    ]
    assert len({s.mated for s in splits}) == 1 and len({s.nonmated for s in splits}) == 1
    enrolled = {n for n, _ in splits[0].mated}
    assert enrolled and all(len(people[name]) > 3 for name in enrolled)
    # searched with the images after the third whatever the number enrolled
    assert all(int(p.stem) >= 3 for _, p in splits[0].mated)
    for n, split in zip((1, 2, 3), splits, strict=True):
        assert all(sum(g == name for g, _ in split.gallery) == n for name in enrolled)
        assert split.distractors == splits[0].distractors
    # distractors: one image each, or up to n with multi_image_distractors
    wide = split_people(
        people, 0.5, seed=1, images_per_subject=2, split_as=3, multi_image_distractors=True
    )
    distractors = {g for g, _ in wide.gallery} - enrolled
    assert all(sum(g == name for g, _ in wide.gallery) == 2 for name in distractors)
    assert all(sum(g == name for g, _ in splits[1].gallery) == 1 for name in distractors)
    with pytest.raises(InvalidInputError, match="--split-as"):
        split_people(people, 0.5, seed=1, images_per_subject=3, split_as=2)


def test_an_enrol_list_fixes_the_split(tmp_path: Path) -> None:
    from facetrail.evaluation.identification import read_enrol_list, split_from_list

    people = {f"p{i}": [tmp_path / f"p{i}/{j}.jpg" for j in range(2)] for i in range(3)}
    listing = tmp_path / "enrol.txt"
    listing.write_text("# enrolled\np0/0.jpg\np1/1.jpg\n")
    split = split_from_list(people, read_enrol_list(listing, tmp_path))
    assert {(n, p.name) for n, p in split.gallery} == {("p0", "0.jpg"), ("p1", "1.jpg")}
    assert {(n, p.name) for n, p in split.mated} == {("p0", "1.jpg"), ("p1", "0.jpg")}
    assert {n for n, _ in split.nonmated} == {"p2"}
    listing.write_text("p9/0.jpg\n")
    with pytest.raises(InvalidInputError, match="not in the data set"):
        split_from_list(people, read_enrol_list(listing, tmp_path))
