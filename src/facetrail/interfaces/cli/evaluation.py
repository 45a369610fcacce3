"""`facetrail eval ...` (pairs, identify, watchlist, report) and `facetrail calibrate`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from facetrail.config import DEFAULT_PIPELINE, Settings
from facetrail.core.sealed_home import is_sealed_home
from facetrail.errors import InvalidInputError
from facetrail.evaluation.datasets import read_aliases, read_groups
from facetrail.evaluation.identification import DEFAULT_ENROLLED_FRACTION, DEFAULT_SEED
from facetrail.evaluation.runs import RESULTS_FOLDER, RunOptions, save_run
from facetrail.evaluation.templates import Progress as ProgressCallback
from facetrail.facade import Facetrail
from facetrail.interfaces.cli.support import (
    HomeOption,
    JsonOption,
    err,
    out,
    print_json,
    resolved_home,
    run_with_app,
)

CACHE_FOLDER = Path("cache") / "templates"
REPORT_FOLDER = "report"

eval_app = typer.Typer(
    help="Measure accuracy: pairs (1:1), identify (1:N), watchlist (live), report.",
    no_args_is_help=True,
)

PipelineArg = Annotated[
    str, typer.Option("--pipeline", help="pipeline spec, e.g. yunet+sface or yunet+sface|dlib")
]
ImagesArg = Annotated[
    Path, typer.Option("--images", help="folder of person folders: DIR/<name>/<photo>")
]
FlipArg = Annotated[
    bool, typer.Option("--flip", help="average each template with its mirror image's")
]
CacheArg = Annotated[
    bool,
    typer.Option(
        "--cache/--no-cache",
        help="keep templates under $FACETRAIL_HOME/cache (research data sets only)",
    ),
]
WorkersArg = Annotated[int | None, typer.Option("--workers", help="embedding processes")]
GroupsArg = Annotated[
    Path | None,
    typer.Option("--groups", help="CSV 'identity,group' of caller-given labels: metrics per group"),
]
AliasesArg = Annotated[
    Path | None,
    typer.Option("--aliases", help="lines 'name,alias...' merging names of one person"),
]
FractionArg = Annotated[
    float,
    typer.Option("--enrolled-fraction", help="share of people with 2+ images who are enrolled"),
]
SeedArg = Annotated[int, typer.Option("--seed", help="seed of the enrolment split")]
SaveArg = Annotated[
    bool, typer.Option("--save/--no-save", help="keep the result for `facetrail eval report`")
]


def _home(home: Path | None) -> Path:
    """The facetrail home of this command (option, global option, environment, default)."""
    chosen = resolved_home(home)
    return Path(chosen).expanduser() if chosen else Settings().home


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[ProgressCallback]:
    """A progress bar on stderr for embedding (hidden for --json or a non-terminal)."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _run(
    home: Path | None,
    pipeline: str,
    flip: bool,
    cache: bool,
    workers: int | None,
    quiet: bool,
    protocol: Callable[[RunOptions], tuple[dict[str, Any], dict[str, Any]]],
    save: bool,
) -> dict[str, Any]:
    """Run a protocol with a progress bar; save its result under the home."""
    root = _home(home)
    if cache and is_sealed_home(root):
        # Cached templates are plaintext: an encrypted home keeps none.
        err.print("this home is encrypted at rest: templates are not cached (--no-cache)")
        cache = False
    with _progress("embedding", quiet) as progress:
        options = RunOptions(
            pipeline=pipeline,
            cache_dir=root / CACHE_FOLDER if cache else None,
            flip=flip,
            workers=workers,
            progress=progress,
        )
        result, scores = protocol(options)
    if save:
        result["saved_to"] = str(save_run(root / RESULTS_FOLDER, result, scores))
    return result


def _optional(path: Path | None, reader: Callable[[Path], dict[str, str]]) -> dict[str, str] | None:
    return reader(path) if path is not None else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _print_groups(result: dict[str, Any]) -> None:
    groups = result.get("groups")
    if not groups:
        return
    table = Table("metric", *groups["groups"], "worst/best", title="per group (caller's labels)")
    for name, ratio in groups["ratios"].items():
        cells = [groups["groups"][g].get(name) for g in groups["groups"]]
        table.add_row(
            name,
            *("" if c is None else f"{c:.4f}" for c in cells),
            "" if ratio["ratio"] is None else f"{ratio['ratio']:.2f} ({ratio['worst']})",
        )
    out.print(table)


@eval_app.command("pairs")
def eval_pairs(
    pairs: Annotated[Path, typer.Option("--pairs", help="LFW-format pairs file")],
    images: ImagesArg,
    pipeline: PipelineArg = DEFAULT_PIPELINE,
    folds: Annotated[int, typer.Option("--folds", help="folds for a single-set pairs file")] = 10,
    flip: FlipArg = False,
    groups: GroupsArg = None,
    cache: CacheArg = True,
    workers: WorkersArg = None,
    save: SaveArg = True,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """1:1 pairs protocol: k-fold accuracy, EER, FNMR at FMR 1e-2/1e-3/1e-4, DET curve."""
    from facetrail.evaluation.pairs import run_pairs

    labels = _optional(groups, read_groups)
    result = _run(
        home,
        pipeline,
        flip,
        cache,
        workers,
        as_json,
        lambda o: run_pairs(pairs, images, o, groups=labels, folds=folds),
        save,
    )
    if as_json:
        print_json(result)
        return
    out.print(
        f"{result['pipeline']} on {result['dataset']}: accuracy {_pct(result['accuracy'])}"
        f" ± {_pct(result['std'])} over {result['folds']} folds ({result['folds_from']}),"
        f" EER {_pct(result['eer'])}"
    )
    table = Table("FMR", "FNMR (file's pairs)", "FNMR (all impostors)", "threshold")
    for name, point in result["fnmr_at_fmr"].items():
        wide = result["fnmr_at_fmr_all_impostors"].get(name, {})
        threshold = wide.get("threshold", point["threshold"])
        table.add_row(
            name,
            _pct(point["error"]),
            _pct(wide.get("error")),
            "n/a" if threshold is None else f"{threshold:.4f}",
        )
    out.print(table)
    out.print(
        f"{result['pairs']} pairs, {result['images']} images ({result['images_from_cache']} from"
        f" cache), {result['images_without_face']} without a face; {result['seconds']} s"
    )
    _print_groups(result)


@eval_app.command("fusion")
def eval_fusion(
    pairs: Annotated[Path, typer.Option("--pairs", help="LFW-format pairs file")],
    images: ImagesArg,
    pipeline: PipelineArg = "yunet+sface|dlib",
    folds: Annotated[int, typer.Option("--folds", help="folds for a single-set pairs file")] = 10,
    flip: FlipArg = False,
    cache: CacheArg = True,
    workers: WorkersArg = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fusion at the tail: FNMR at FMR 1e-3/1e-4 per model, fixed and learned fusion."""
    from facetrail.evaluation.fusion_learning import run_fusion_study

    result = _run(
        home,
        pipeline,
        flip,
        cache,
        workers,
        as_json,
        lambda o: (run_fusion_study(pairs, images, o, folds=folds), {}),
        False,
    )
    if as_json:
        print_json(result)
        return
    table = Table(
        "method", *(f"FNMR at FMR {t}" for t in next(iter(result["fnmr_at_fmr"].values())))
    )
    for method, points in result["fnmr_at_fmr"].items():
        missed = result["missed_mates"][method]
        table.add_row(method, *(f"{_pct(v)} ({missed[t]})" for t, v in points.items()))
    out.print(table)
    weights = result["learned_weights"]
    out.print(
        f"{result['pipeline']}: {result['genuine_pairs']} genuine pairs (missed in brackets),"
        f" {result['impostor_comparisons']:,} impostor comparisons, {result['folds']} folds;"
        f" learned weights per fold: {weights}"
    )


@eval_app.command("identify")
def eval_identify(
    images: ImagesArg,
    enrolled_fraction: FractionArg = DEFAULT_ENROLLED_FRACTION,
    seed: SeedArg = DEFAULT_SEED,
    aliases: AliasesArg = None,
    pipeline: PipelineArg = DEFAULT_PIPELINE,
    flip: FlipArg = False,
    groups: GroupsArg = None,
    cache: CacheArg = True,
    workers: WorkersArg = None,
    save: SaveArg = True,
    images_per_subject: Annotated[
        int, typer.Option("--images-per-subject", help="enrol each person's first N images")
    ] = 1,
    subject_score: Annotated[
        str,
        typer.Option(
            "--subject-score",
            help="score of a subject with several images: max, mean-top-2 or mean-top-3",
        ),
    ] = "max",
    split_as: Annotated[
        int | None,
        typer.Option(
            "--split-as",
            help="split people as for N images per subject (enrol only people with more"
            " than N, search their images after the N-th): runs with 1 ... N enrolment"
            " images then search the same probes",
        ),
    ] = None,
    multi_image_distractors: Annotated[
        bool,
        typer.Option(
            "--multi-image-distractors",
            help="enrol distractors with up to --images-per-subject images too,"
            " not only their first",
        ),
    ] = False,
    enrol_list: Annotated[
        Path | None,
        typer.Option(
            "--enrol-list",
            help="file of images to enrol (one per line); the rest"
            " are searched (for sets that ship their own split)",
        ),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """1:N identification protocol: CMC and open-set FNIR at FPIR 0.1 ... 0.001."""
    from facetrail.evaluation.identification import read_enrol_list, run_identification

    alias_map = _optional(aliases, read_aliases)
    labels = _optional(groups, read_groups)
    listed = read_enrol_list(enrol_list, images) if enrol_list is not None else None
    result = _run(
        home,
        pipeline,
        flip,
        cache,
        workers,
        as_json,
        lambda o: run_identification(
            images,
            o,
            enrolled_fraction=enrolled_fraction,
            seed=seed,
            aliases=alias_map,
            groups=labels,
            images_per_subject=images_per_subject,
            enrol_list=listed,
            subject_score=subject_score,
            split_as=split_as,
            multi_image_distractors=multi_image_distractors,
        ),
        save,
    )
    if as_json:
        print_json(result)
        return
    cmc = ", ".join(f"rank {r} {_pct(v)}" for r, v in result["cmc"].items())
    out.print(
        f"{result['pipeline']} on {result['dataset']}: gallery {result['gallery_size']}"
        f" ({result['distractors']} distractors), {result['mated_searches']} mated and"
        f" {result['nonmated_searches']} non-mated searches"
    )
    out.print(f"CMC: {cmc}")
    table = Table("FPIR", "FNIR", "threshold")
    for name, point in result["fnir_at_fpir"].items():
        threshold = point["threshold"]
        table.add_row(
            name, _pct(point["error"]), "n/a" if threshold is None else f"{threshold:.4f}"
        )
    out.print(table)
    _print_groups(result)


@eval_app.command("watchlist")
def eval_watchlist(
    images: ImagesArg,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="alert threshold (default: the active calibration's)"),
    ] = None,
    watchlist_size: Annotated[
        int | None,
        typer.Option("--watchlist-size", help="watchlist images to scale to (default: measured)"),
    ] = None,
    enrolled_fraction: FractionArg = DEFAULT_ENROLLED_FRACTION,
    seed: SeedArg = DEFAULT_SEED,
    aliases: AliasesArg = None,
    pipeline: PipelineArg = DEFAULT_PIPELINE,
    flip: FlipArg = False,
    groups: GroupsArg = None,
    cache: CacheArg = True,
    workers: WorkersArg = None,
    save: SaveArg = True,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Live watchlist: false alerts per 1,000 passers-by and misses at a threshold and size."""
    from facetrail.evaluation.watchlist import run_watchlist
    from facetrail.store.calibration_store import calibration_label

    source = "given with --threshold"
    if threshold is None:
        calibration = run_with_app(home, lambda a: a.calibrations.active(pipeline))
        if calibration is None:
            raise InvalidInputError(
                f"pipeline {pipeline} has no calibration: give --threshold or run calibrate"
            )
        threshold, source = calibration.threshold, calibration_label(calibration)
    alias_map = _optional(aliases, read_aliases)
    labels = _optional(groups, read_groups)
    chosen = threshold
    result = _run(
        home,
        pipeline,
        flip,
        cache,
        workers,
        as_json,
        lambda o: run_watchlist(
            images,
            o,
            threshold=chosen,
            watchlist_size=watchlist_size,
            enrolled_fraction=enrolled_fraction,
            seed=seed,
            aliases=alias_map,
            groups=labels,
            threshold_source=source,
        ),
        save,
    )
    if as_json:
        print_json(result)
        return
    out.print(result["sentence"])
    out.print(
        f"threshold from: {source}. Measured at {result['measured_watchlist_size']:,} entries:"
        f" FPIR {_pct(result['fpir_measured'])} (model predicts"
        f" {_pct(result['fpir_predicted_at_measured_size'])}), TPIR"
        f" {_pct(result['tpir_measured'])}"
        f" (model {_pct(result['tpir_predicted_at_measured_size'])})"
    )
    for point in result["thresholds_for_false_alerts"]:
        wanted = f"{point['false_alerts_per_10000']:g} false alert(s) per 10,000 faces"
        if point["threshold"] is None:
            out.print(f"for {wanted}: too few non-watchlist comparisons to measure")
        else:
            out.print(
                f"for {wanted}: threshold {point['threshold']:.3f},"
                f" missing {_pct(point['miss_rate'])} of people on the watchlist"
            )
    _print_groups(result)


@eval_app.command("report")
def eval_report(
    output: Annotated[
        Path | None,
        typer.Option("--output", help="folder for report.html and plots (default HOME/report)"),
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write an HTML report with DET, score and CMC plots of every saved evaluation."""
    from facetrail.evaluation.report import write_report

    root = _home(home)
    target = output or root / REPORT_FOLDER
    written = write_report(root / RESULTS_FOLDER, target)
    if as_json:
        print_json(written)
        return
    out.print(
        f"wrote {written['html']} ({len(written['runs'])} runs, {len(written['plots'])} plots)"
    )


def calibrate(
    target_fpir: Annotated[
        float | None,
        typer.Option("--target-fpir", help="FPIR to reach in 1:N search (needs --images)"),
    ] = None,
    target_fmr: Annotated[
        float | None,
        typer.Option("--target-fmr", help="FMR to reach in 1:1 (needs --pairs and --images)"),
    ] = None,
    images: Annotated[
        Path | None, typer.Option("--images", help="folder of person folders to measure on")
    ] = None,
    pairs: Annotated[Path | None, typer.Option("--pairs", help="LFW-format pairs file")] = None,
    pipeline: PipelineArg = DEFAULT_PIPELINE,
    enrolled_fraction: FractionArg = DEFAULT_ENROLLED_FRACTION,
    seed: SeedArg = DEFAULT_SEED,
    aliases: AliasesArg = None,
    cache: CacheArg = True,
    workers: WorkersArg = None,
    show: Annotated[
        bool, typer.Option("--list", help="list stored calibrations instead of measuring")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure the threshold reaching a target FPIR or FMR and store it for search/verify."""
    from facetrail.services import calibrations

    if show:
        rows = run_with_app(home, lambda a: a.calibrations.list())
        if as_json:
            print_json({"calibrations": [r.as_dict() for r in rows]})
            return
        for row in rows:
            out.print(f"#{row.id} threshold {row.threshold:.6f}: {row.label} by {row.created_by}")
        return
    if (target_fpir is None) == (target_fmr is None):
        raise InvalidInputError("give exactly one of --target-fpir and --target-fmr")
    if images is None:
        raise InvalidInputError("--images DIR is required: the data set to measure on")
    kind, target = ("fpir", target_fpir) if target_fpir is not None else ("fmr", target_fmr)
    assert target is not None
    root = _home(home)
    alias_map = _optional(aliases, read_aliases)
    request = calibrations.CalibrationRequest(
        pipeline=pipeline,
        target_kind=kind,
        target=target,
        images=images,
        pairs=pairs,
        enrolled_fraction=enrolled_fraction,
        seed=seed,
        aliases=alias_map,
        options=RunOptions(
            pipeline=pipeline,
            cache_dir=root / CACHE_FOLDER if cache else None,
            workers=workers,
        ),
    )

    def measure_and_store(app: Facetrail) -> tuple[calibrations.CalibrationInfo, dict[str, Any]]:
        with _progress("embedding", as_json) as progress:
            options = replace(request.options, progress=progress)
            return app.calibrations.calibrate(replace(request, options=options))

    info, parameters = run_with_app(home, measure_and_store, create=True)
    threshold = info.threshold
    if as_json:
        print_json({**info.as_dict(), "results": parameters["results"]})
        return
    results = ", ".join(f"{k} {v:.4g}" for k, v in parameters["results"].items())
    out.print(f"stored calibration #{info.id}: threshold {threshold:.6f} ({info.label}); {results}")
    out.print("search and verify with this pipeline now use it by default")
