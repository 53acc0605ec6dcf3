"""The command line: ``python -m htr <command> ...``.

A thin view over the library. Heavy modules (TensorFlow, EasyOCR, Pillow) are
imported only inside the command that needs them, so ``--help`` is instant.

Error contract (other tools rely on it): a problem with one input prints
``error: <path>: <reason>`` on stderr, the other inputs are still processed,
and the exit status is 2 at the end; an engine that cannot run prints
``error: <engine>: <reason>`` and exits 2. Never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys

#: Kept here (not imported from :mod:`htr.engines`) so that ``--help`` does not
#: import the engines; a test checks it matches ``htr.engines.ENGINE_NAMES``.
ENGINE_CHOICES = ("easter2", "easyocr", "tesseract")
DECODER_CHOICES = ("greedy", "beam", "lm")  # htr.engines.easter2.DECODERS, checked by a test
LAYOUTS = ("auto", "line", "page")

#: Subcommands that hand their whole argument list to ``<module>.main(argv)``.
#: Add an entry here to wire a new one (e.g. ``"export": "htr.export"``).
DELEGATED = {
    "train": ("htr.train", "train Easter2 weights (see `python -m htr train --help`)"),
}

EXIT_OK = 0
EXIT_ERROR = 2


# --------------------------------------------------------------------------
# output helpers


def _err(subject: str, reason: str) -> None:
    """Print ``error: <subject>: <reason>`` on stderr (one line)."""
    reason = " ".join(str(reason).split()) or "unknown error"
    print(f"error: {subject}: {reason}", file=sys.stderr, flush=True)


def _exc_reason(exc: BaseException, subject: str) -> str:
    """The message of an htr error without a leading ``<subject>: `` (it is added back)."""
    msg = str(exc)
    prefix = f"{subject}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def _internal(exc: BaseException) -> str:
    return f"internal error: {type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _quiet_native_logs():
    """Send file descriptor 2 to /dev/null while engines load and run.

    TensorFlow's C++ runtime writes INFO lines to stderr before its logging is
    configured (no environment variable stops them); they would break the
    contract that stderr holds only ``error:`` lines. ``HTR_VERBOSE=1`` keeps them.
    """
    if os.environ.get("HTR_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# --------------------------------------------------------------------------
# recognize


def choose_layout(gray) -> str:
    """``'page'`` where the image holds several text lines, else ``'line'``.

    The same rule as the app's (:func:`htr.segment.is_single_line`: a very wide
    strip is a line; otherwise count the lines the segmenter finds).
    """
    from htr.segment import is_single_line

    return "line" if is_single_line(gray) else "page"


def _engine_kwargs(args: argparse.Namespace) -> dict:
    kw = {}
    if args.weights is not None:
        kw["weights"] = args.weights
    if args.decoder is not None:
        kw["decoder"] = args.decoder
    return kw


def _open_engine(name: str, kwargs: dict):
    """Build and check one engine; returns (engine, None) or (None, reason)."""
    from htr.errors import HTRError

    try:
        from htr.engines import get_engine

        with _quiet_native_logs():
            engine = get_engine(name, **kwargs)
            ok, reason = engine.availability()
    except HTRError as exc:
        return None, _exc_reason(exc, name)
    except ImportError as exc:
        return None, f"cannot be loaded ({type(exc).__name__}: {exc})"
    except Exception as exc:  # noqa: BLE001 - the contract is: never a traceback
        return None, _internal(exc)
    if not ok:
        return None, reason or "not available"
    return engine, None


def _result_record(path: str, name: str, rec, layout: str) -> dict:
    record = {
        "image": path,
        "engine": rec.engine or name,
        "text": rec.text,
        "seconds": round(float(rec.seconds), 6),
        "layout": layout,
    }
    if rec.char_probs:
        record["confidence"] = round(sum(rec.char_probs) / len(rec.char_probs), 4)
    if rec.lines:
        record["lines"] = [
            {
                "text": line.text,
                "box": [line.box.x, line.box.y, line.box.w, line.box.h] if line.box else None,
            }
            for line in rec.lines
        ]
    return record


def cmd_recognize(args: argparse.Namespace) -> int:
    if args.engine != "easter2":
        given = [opt for opt, val in (("--weights", args.weights), ("--decoder", args.decoder)) if val is not None]
        if given:
            _err(args.engine, f"{' and '.join(given)}: only for the easter2 engine")
            return EXIT_ERROR

    engine, reason = _open_engine(args.engine, _engine_kwargs(args))
    if engine is None:
        _err(args.engine, reason)
        return EXIT_ERROR

    from htr.errors import EngineUnavailable, HTRError

    warm_up = getattr(engine, "warm_up", None)  # load the model now: "seconds" excludes loading
    if warm_up is not None:
        try:
            with _quiet_native_logs():
                warm_up()
        except HTRError as exc:
            _err(args.engine, _exc_reason(exc, args.engine))
            return EXIT_ERROR
        except Exception as exc:  # noqa: BLE001
            _err(args.engine, _internal(exc))
            return EXIT_ERROR
    from htr.batch import read_file

    status = EXIT_OK
    several = len(args.images) > 1
    for path in args.images:
        try:
            with _quiet_native_logs():
                rec, layout, _gray = read_file(engine, path, args.layout)  # what `batch` does for each image
        except EngineUnavailable as exc:  # the engine itself broke: no use going on
            _err(args.engine, _exc_reason(exc, args.engine))
            return EXIT_ERROR
        except HTRError as exc:
            _err(path, _exc_reason(exc, path))
            status = EXIT_ERROR
            continue
        except MemoryError:
            _err(path, "not enough memory to read this image")
            status = EXIT_ERROR
            continue
        except Exception as exc:  # noqa: BLE001 - never a traceback
            _err(path, _internal(exc))
            status = EXIT_ERROR
            continue
        if args.json:
            print(json.dumps(_result_record(path, args.engine, rec, layout)), flush=True)
        elif several:
            print(f"{path}: {rec.text}", flush=True)
        else:
            print(rec.text, flush=True)
    return status


# --------------------------------------------------------------------------
# batch


def cmd_batch(args: argparse.Namespace) -> int:
    from htr.batch import BatchError, main_summary, run_batch

    engines = list(dict.fromkeys(args.engine or ["easter2"]))
    if "easter2" not in engines:
        given = [opt for opt, val in (("--weights", args.weights), ("--decoder", args.decoder)) if val is not None]
        if given:
            _err("batch", f"{' and '.join(given)}: only for the easter2 engine, which is not chosen")
            return EXIT_ERROR
    options = _engine_kwargs(args)
    if "weights" in options:  # the workers may run in another folder
        options["weights"] = os.path.abspath(options["weights"])
    progress = sys.stderr if (args.progress or (args.progress is None and sys.stderr.isatty())) else None
    try:
        with _quiet_native_logs() if progress is None else contextlib.nullcontext():
            report = run_batch(args.inputs, args.out, engines=engines, options=options, layout=args.layout,
                               formats=args.format or (), resume=args.resume, workers=args.workers,
                               threads=args.threads, ray_address=args.ray_address,
                               gpus_per_worker=args.gpus_per_worker, batch_size=args.batch_size, progress=progress,
                               executor=args.executor)
    except BatchError as exc:
        _err("batch", str(exc))
        return EXIT_ERROR
    except ImportError as exc:
        _err("batch", f"Ray is not installed ({exc}); install the project's requirements.txt")
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"error: batch: interrupted; what was read is kept in {args.out}: run the same command with "
              "--resume to finish", file=sys.stderr)
        return 130
    from pathlib import Path

    for subject, reason in report.failed:
        _err(subject, reason)
    main_summary(report, Path(args.out))
    return EXIT_ERROR if report.failed else EXIT_OK


# --------------------------------------------------------------------------
# engines


def cmd_engines(args: argparse.Namespace) -> int:
    rows = []
    for name in ENGINE_CHOICES:
        engine, reason = _open_engine(name, {})
        if engine is not None:
            reason = engine.availability()[1]
        rows.append({"engine": name, "available": engine is not None, "reason": reason or ""})
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            mark = "available  " if row["available"] else "unavailable"
            print(f"{row['engine']:<10} {mark}  {row['reason']}")
    return EXIT_OK


# --------------------------------------------------------------------------
# iam


def cmd_iam_fetch(args: argparse.Namespace) -> int:
    from htr.data import fetch
    from htr.errors import HTRError

    try:
        dest = fetch.fetch_iam(
            dest=args.dest,
            base_url=args.url,
            parts=args.parts,
            force=args.force,
        )
    except HTRError as exc:
        _err("iam fetch", str(exc))
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - never a traceback (and never credentials)
        _err("iam fetch", f"internal error: {type(exc).__name__}")
        return EXIT_ERROR
    print(f"IAM files are in {dest}; point the app and CLI at them with: export IAM_DIR={dest}", file=sys.stderr)
    return EXIT_OK


def _open_iam(args: argparse.Namespace):
    """The IAM reader for --iam-dir, else $IAM_DIR, else ../shared/iam; or None after an error line."""
    from htr.errors import IAMError
    from htr.data.iam import IAM, default_iam_dir, shared_iam_dir

    root = args.iam_dir or default_iam_dir() or shared_iam_dir()
    if root is None:
        _err("iam", "no IAM folder: set IAM_DIR or pass --iam-dir (see `python -m htr iam fetch --help`)")
        return None
    try:
        return IAM(root)
    except IAMError as exc:
        _err("iam", str(exc))
        return None


def cmd_iam_info(args: argparse.Namespace) -> int:
    from htr.errors import IAMError

    iam = _open_iam(args)
    if iam is None:
        return EXIT_ERROR
    with_scan = sum(1 for form in iam.forms.values() if form.has_image)
    print(f"IAM folder: {iam.root}")
    print(f"lines:   {len(iam.lines)} ({len(iam.available_lines())} with an image)")
    print(f"forms:   {len(iam.forms)} ({with_scan} with a scan)")
    print(f"writers: {len(iam.writers)}")
    head = ("split", "lines", "forms", "writers", "words", "chars", "images", "shared writers")
    for scheme in iam.split_schemes():
        try:
            rows = iam.split_summary(scheme)
        except IAMError as exc:
            print(f"splits {scheme}: unreadable: {exc}")
            continue
        print(f"splits {scheme}:")
        table = [head] + [(r["split"], r["lines"], r["forms"], r["writers"], r["words"], r["characters"],
                           r["with_images"], "-" if r["shared_writers"] is None else r["shared_writers"])
                          for r in rows]
        widths = [max(len(str(row[k])) for row in table) for k in range(len(head))]
        for row in table:
            print("  " + "  ".join(str(v).ljust(w) if k == 0 else str(v).rjust(w)
                                   for k, (v, w) in enumerate(zip(row, widths))))
    return EXIT_OK


def cmd_iam_lines(args: argparse.Namespace) -> int:
    from htr.errors import IAMError

    iam = _open_iam(args)
    if iam is None:
        return EXIT_ERROR
    try:
        if args.split:
            splits = iam.splits(args.scheme)
            if args.split not in splits:
                _err("iam", f"no split {args.split!r} in scheme {args.scheme!r} (there are: {', '.join(splits)})")
                return EXIT_ERROR
            ids = [i for i in splits[args.split] if i in iam.lines]
        else:
            ids = sorted(iam.lines)
        if args.available:
            have = set(iam.available_lines())
            ids = [i for i in ids if i in have]
        for line_id in ids:
            if args.paths:
                path = iam.line_image_path(line_id)
                print(f"{line_id}\t{path or ''}\t{iam.lines[line_id].text}")
            else:
                print(f"{line_id}\t{iam.lines[line_id].text}")
    except IAMError as exc:
        _err("iam", str(exc))
        return EXIT_ERROR
    return EXIT_OK


# --------------------------------------------------------------------------
# evaluate


def _show_edit(true: str, read: str, count: int) -> str:
    """One character error in words: ``'s' read as 'o' ×3``, ``'e' dropped ×1``, ``' ' added ×2``."""
    from htr.metrics import MISSING

    if true == MISSING:
        return f"{read!r} added ×{count}"
    if read == MISSING:
        return f"{true!r} dropped ×{count}"
    return f"{true!r} read as {read!r} ×{count}"


def _evaluate_engine(name: str, kwargs: dict, iam, ids: list[str], per_line: bool):
    """Read every line with one engine: ``([(id, truth, text, seconds)], status)``; None for the readings
    (after its error line) where the engine cannot run or breaks; a bad line costs only itself."""
    from htr.errors import EngineUnavailable, HTRError

    engine, reason = _open_engine(name, kwargs)
    if engine is None:
        _err(name, reason)
        return None, EXIT_ERROR
    status = EXIT_OK
    try:
        with _quiet_native_logs():
            warm = getattr(engine, "warm_up", None)
            if warm is not None:
                warm()
    except HTRError as exc:
        _err(name, _exc_reason(exc, name))
        return None, EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - never a traceback
        _err(name, _internal(exc))
        return None, EXIT_ERROR
    readings = []
    for line_id in ids:
        try:
            gray = iam.line_image(line_id)
            with _quiet_native_logs():
                rec = engine.recognize(gray, layout="line")
        except EngineUnavailable as exc:
            _err(name, _exc_reason(exc, name))
            return None, EXIT_ERROR
        except HTRError as exc:
            _err(line_id, _exc_reason(exc, line_id))
            status = EXIT_ERROR
            continue
        except Exception as exc:  # noqa: BLE001
            _err(line_id, _internal(exc))
            status = EXIT_ERROR
            continue
        truth = iam.lines[line_id].text
        readings.append((line_id, truth, rec.text, float(rec.seconds)))
        if per_line:
            from htr.metrics import cer, wer

            print(json.dumps({"line": line_id, "engine": name, "text": rec.text,
                              "cer": round(cer(truth, rec.text), 5), "wer": round(wer(truth, rec.text), 5),
                              "seconds": round(float(rec.seconds), 6)}), flush=True)
    return readings, status


def cmd_evaluate(args: argparse.Namespace) -> int:
    from htr.errors import IAMError
    from htr.metrics import aggregate, char_confusions

    engines = list(dict.fromkeys(args.engine or ENGINE_CHOICES))
    if "easter2" not in engines:
        given = [opt for opt, val in (("--weights", args.weights), ("--decoder", args.decoder)) if val is not None]
        if given:
            _err("evaluate", f"{' and '.join(given)}: only for the easter2 engine, which is not chosen")
            return EXIT_ERROR
    if args.limit is not None and args.limit < 1:
        _err("evaluate", f"--limit must be at least 1, not {args.limit}")
        return EXIT_ERROR
    if args.confusions < 0:
        _err("evaluate", f"--confusions must be 0 or more, not {args.confusions}")
        return EXIT_ERROR
    iam = _open_iam(args)
    if iam is None:
        return EXIT_ERROR
    try:
        splits = iam.splits(args.scheme)
    except IAMError as exc:
        _err("iam", str(exc))
        return EXIT_ERROR
    if args.split not in splits:
        _err("iam", f"no split {args.split!r} in scheme {args.scheme!r} (there are: {', '.join(splits) or 'none'})")
        return EXIT_ERROR
    have = set(iam.available_lines())
    ids = [i for i in splits[args.split] if i in have and i in iam.lines]
    if not ids:
        _err("iam", f"none of the {len(splits[args.split])} lines of split {args.split!r} has an image in {iam.root}")
        return EXIT_ERROR
    ids = ids[: args.limit] if args.limit else ids
    if not args.json:
        print(f"{len(ids)} lines of split {args.split!r} ({args.scheme}) in {iam.root}", flush=True)
        if args.split in ("train", "trainset"):
            print("note: a training split: Easter2 trained on these lines, so its error rates say little",
                  flush=True)
    status = EXIT_OK
    rows = []
    for name in engines:
        kwargs = _engine_kwargs(args) if name == "easter2" else {}
        readings, st = _evaluate_engine(name, kwargs, iam, ids, per_line=args.json)
        status = max(status, st)
        if not readings:
            continue
        score = aggregate((t, h) for _, t, h, _ in readings)
        secs = sorted(s for *_, s in readings)
        conf = char_confusions((t, h) for _, t, h, _ in readings)
        row = {"engine": name, "scheme": args.scheme, "split": args.split, "lines": score.lines,
               "cer": round(score.cer, 5), "wer": round(score.wer, 5), "exact": score.exact,
               "median_seconds": round(secs[len(secs) // 2], 6),
               "confusions": [{"true": t, "read": h, "count": n} for t, h, n in conf.top(args.confusions)]}
        if args.json:
            print(json.dumps({"summary": True, **row}), flush=True)
        rows.append(row)
    if not args.json and rows:
        print(f"{'engine':<10} {'lines':>5} {'CER %':>7} {'WER %':>7} {'exact':>5} {'median s':>9}")
        for r in rows:
            print(f"{r['engine']:<10} {r['lines']:>5} {100 * r['cer']:>7.2f} {100 * r['wer']:>7.2f} "
                  f"{r['exact']:>5} {r['median_seconds']:>9.3f}")
        for r in rows:
            if r["confusions"]:
                pairs = ", ".join(_show_edit(c["true"], c["read"], c["count"]) for c in r["confusions"])
                print(f"{r['engine']}: most frequent character errors: {pairs}")
    return status


# --------------------------------------------------------------------------
# data


def cmd_data_import(args: argparse.Namespace) -> int:
    from htr.data.pagexml import import_pages
    from htr.errors import HTRError

    try:
        _records, report = import_pages(args.pages, args.out, source=args.source, hand=args.hand)
    except HTRError as exc:
        _err("data import", str(exc))
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - never a traceback
        _err("data import", _internal(exc))
        return EXIT_ERROR
    for path, reason in report.failed:
        _err(path, _exc_reason(reason, path))
    for path, line_id, reason in report.skipped:
        print(f"skipped: {path}: line {line_id}: {reason}")
    print(f"{report.written} lines written to {args.out} from {len(report.pages)} page(s); "
          f"{len(report.skipped)} skipped, {len(report.failed)} file(s) failed")
    if not report.written and not report.failed:
        _err("data import", "no usable line in the given pages; nothing written")
    return EXIT_ERROR if report.failed or not report.written else EXIT_OK


def _show_char(c: str) -> str:
    return c if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}"


def mapping_counts(hands_dir=None, sources=("copiste", "poilus", "unipen")):
    """(counts, notes, errors) of :func:`htr.data.text.map_lines` per source of the hands folder.

    A source without a folder, and unipen where :mod:`htr.data.unipen` cannot be
    imported, are skipped with a note; a folder that cannot be read is an error.
    """
    from pathlib import Path

    from htr.data.hands import default_hands_dir, source_lines
    from htr.data.text import map_lines
    from htr.errors import HTRError

    root = Path(hands_dir) if hands_dir else default_hands_dir()
    if root is None or not root.is_dir():
        return [], [], [("hands", f"no hands folder ({root or 'set HANDS_DIR or pass --hands-dir'})")]
    counts, notes, errors = [], [], []
    for source in sources:
        if not (root / source).is_dir():
            notes.append(f"{source}: skipped (no folder {root / source})")
            continue
        if source == "unipen":
            try:
                importlib.import_module("htr.data.unipen")
            except ImportError as exc:
                notes.append(f"unipen: skipped (htr.data.unipen cannot be imported: {exc})")
                continue
        try:
            records = source_lines(source, hands_dir)
        except HTRError as exc:
            errors.append((source, str(exc)))
            continue
        counts.append(map_lines(records, source)[1])
    return counts, notes, errors


def mapping_markdown(counts) -> list[str]:
    """The mapping counts as a markdown table (``data mapping --markdown`` and benchmarks/text_mapping.py)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|") or "–"

    out = ["| source | lines | kept as is | mapped | dropped | dropped, by reason | characters that caused drops |",
           "|---|---:|---:|---:|---:|---|---|"]
    for c in counts:
        reasons = ", ".join(f"{r} {n}" for r, n in c.reasons.most_common())
        chars = ", ".join(f"`{_show_char(ch)}` {n}" if ch != "`" else f"`` ` `` {n}"
                          for ch, n in c.characters.most_common())
        out.append(f"| {c.source} | {c.lines} | {c.kept_as_is} | {c.mapped} | {c.dropped} | "
                   f"{cell(reasons)} | {cell(chars)} |")
    return out


def cmd_data_mapping(args: argparse.Namespace) -> int:
    counts, notes, errors = mapping_counts(args.hands_dir)
    for source, reason in errors:
        _err(source, _exc_reason(reason, source))
    if not counts and not errors:
        errors.append(("data mapping", "no source to count"))
        _err("data mapping", "no source (copiste, poilus, unipen) found in the hands folder: " + "; ".join(notes))
    if args.markdown:
        if counts:
            print("\n".join(mapping_markdown(counts)))
    else:
        if counts:
            print(f"{'source':<8} {'lines':>6} {'kept as is':>10} {'mapped':>6} {'dropped':>7}")
        for c in counts:
            print(f"{c.source:<8} {c.lines:>6} {c.kept_as_is:>10} {c.mapped:>6} {c.dropped:>7}")
            for reason, n in c.reasons.most_common():
                print(f"  dropped: {reason}: {n}")
            if c.characters:
                chars = ", ".join(f"{_show_char(ch)} ×{n}" for ch, n in c.characters.most_common())
                print(f"  characters that caused drops: {chars}")
    for note in notes:
        print(f"note: {note}")
    return EXIT_ERROR if errors else EXIT_OK


def cmd_data_split(args: argparse.Namespace) -> int:
    from htr.data.hands import SPLIT_FILE, make_split
    from htr.errors import HTRError

    try:
        new = make_split(args.hands_dir)
    except HTRError as exc:
        _err("data split", str(exc))
        return EXIT_ERROR
    try:
        old = json.loads(SPLIT_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    lost = sorted(set((old or {}).get("sources", {})) - set(new["sources"]))
    if not new["sources"]:
        _err("data split", "no source of the hands folder could be read (set HANDS_DIR or pass --hands-dir)")
        return EXIT_ERROR
    if args.check:
        if new == old:
            print(f"{SPLIT_FILE} agrees with the rule")
            return EXIT_OK
        for source in sorted(set(new["sources"]) | set((old or {}).get("sources", {}))):
            was = (old or {}).get("sources", {}).get(source)
            now = new["sources"].get(source)
            if was == now:
                continue
            if now is None:
                print(f"{source}: in the file but cannot be read here (it would be dropped)")
            elif was is None:
                print(f"{source}: not in the file (it would be added)")
            else:
                for split in now:
                    added = sorted(set(now[split]) - set(was.get(split, ())))
                    gone = sorted(set(was.get(split, ())) - set(now[split]))
                    if added or gone:
                        print(f"{source} {split}: +{len(added)} hands, -{len(gone)} hands")
        if old is not None and new.get("rule") != old.get("rule"):
            print("the rule's description differs")
        print(f"{SPLIT_FILE} would change")
        return 1
    if lost:
        _err("data split", f"{SPLIT_FILE.name} has a section for {', '.join(lost)}, which cannot be read here; "
             "not rewriting it")
        return EXIT_ERROR
    from htr.data.hands import write_split

    data = write_split(hands_dir=args.hands_dir)
    print(f"wrote {SPLIT_FILE}")
    for source, splits in data["sources"].items():
        print(f"  {source}: " + ", ".join(f"{name} {len(hands)} hands" for name, hands in splits.items()))
    return EXIT_OK


def cmd_data_info(args: argparse.Namespace) -> int:
    from htr.data.lines import read_line_set
    from htr.data.text import map_lines
    from htr.errors import HTRError

    try:
        records = read_line_set(args.dir)
    except HTRError as exc:
        _err(args.dir, _exc_reason(exc, args.dir))
        return EXIT_ERROR
    _kept, count = map_lines(records)
    print(f"line set: {args.dir}")
    print(f"lines:   {len(records)}")
    print(f"hands:   {len({r.hand for r in records})}")
    print(f"pages:   {len({r.page for r in records if r.page})}")
    print(f"map into the alphabet: {count.lines - count.dropped} of {count.lines} "
          f"({count.kept_as_is} as they are, {count.mapped} mapped); {count.dropped} dropped")
    for reason, n in count.reasons.most_common():
        print(f"  dropped: {reason}: {n}")
    if count.characters:
        print("  characters that caused drops: "
              + ", ".join(f"{_show_char(ch)} ×{n}" for ch, n in count.characters.most_common()))
    return EXIT_OK


# --------------------------------------------------------------------------
# adapt


def cmd_adapt(args: argparse.Namespace) -> int:
    """Fine-tune Easter2 on one writer's line set and write the adapted weights (htr.adapt)."""
    from pathlib import Path

    from htr.data.lines import read_line_set
    from htr.data.text import map_lines
    from htr.errors import HTRError

    out = Path(args.out)
    if not out.name.endswith(".weights.h5"):
        _err(args.out, "the weights file's name must end in .weights.h5 (Keras' rule)")
        return EXIT_ERROR
    if not out.parent.is_dir():
        _err(args.out, f"no such folder: {out.parent}")
        return EXIT_ERROR
    from htr.weights import DEFAULT_WEIGHTS

    if out.resolve() == Path(DEFAULT_WEIGHTS).resolve():
        _err(args.out, "that is the shipped weights file; write the adapted weights elsewhere")
        return EXIT_ERROR
    if args.seconds <= 0:
        _err("adapt", "--seconds must be more than 0")
        return EXIT_ERROR
    try:
        records = read_line_set(args.lines)
    except HTRError as exc:
        _err(args.lines, _exc_reason(exc, args.lines))
        return EXIT_ERROR
    if not records:
        _err(args.lines, "the line set lists no lines (lines.tsv has only its header)")
        return EXIT_ERROR
    kept, _count = map_lines(records)
    for rec in records:
        if all(rec is not r for r, _ in kept):
            print(f"skipped: line {rec.id}: its text cannot be written in the model's alphabet")
    if not kept:
        _err(args.lines, "no line whose text the model's alphabet can write (see `python -m htr data info`)")
        return EXIT_ERROR
    lines = []
    for rec, text in kept:
        try:
            lines.append((rec.gray(), text))
        except HTRError as exc:
            _err(str(rec.image), _exc_reason(exc, str(rec.image)))
            return EXIT_ERROR
    held = args.held_out
    if held is not None and not 0 <= held < len(lines):
        _err("adapt", f"--held-out {held}: must be at least 0 and fewer than the {len(lines)} usable lines")
        return EXIT_ERROR

    def show(p) -> None:
        if p.cer is not None:
            print(f"step {p.step:4d}  {p.seconds:5.1f} s  loss {p.loss:8.3f}  held-back CER {100 * p.cer:5.1f} %",
                  flush=True)

    try:
        with _quiet_native_logs():
            from htr.adapt import adapt, save_weights
            from htr.model import load_model

            model = load_model(args.weights)
            print(f"adapting to {len(lines)} lines of {args.lines} for at most {args.seconds:g} s", flush=True)
            res = adapt(model, lines, seconds=args.seconds, held_out=held, progress=show, seed=args.seed)
            save_weights(res.model, out)
    except HTRError as exc:
        _err("adapt", str(exc))
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - never a traceback
        _err("adapt", _internal(exc))
        return EXIT_ERROR
    n_held = len(res.held_texts)
    print(f"{res.steps} steps in {res.seconds:.0f} s (stopped: {res.stopped}); kept the weights of step {res.best_step}")
    if n_held:
        print(f"CER on {n_held} held-back line(s): before {100 * res.cer_before:.1f} %, "
              f"after {100 * res.cer_after:.1f} %")
        for truth, before, after in zip(res.held_texts, res.before, res.after):
            print(f"  truth:  {truth}\n  before: {before}\n  after:  {after}")
    else:
        print("no line held back: no CER before and after (use --held-out N)")
    print(f"wrote {out} (read with: python -m htr recognize --weights {out} IMAGE)")
    return EXIT_OK


# --------------------------------------------------------------------------
# delegated subcommands (train, ...)


def run_delegated(command: str, argv: list[str]) -> int:
    module_name = DELEGATED[command][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            _err(command, f"not available in this version ({module_name} is missing)")
            return EXIT_ERROR
        _err(command, f"a module it needs is missing: {exc.name}")
        return EXIT_ERROR
    try:
        result = module.main(argv)
    except SystemExit as exc:  # argparse inside the module: --help, usage errors
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_ERROR)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001
        from htr.errors import HTRError

        _err(command, _exc_reason(exc, command) if isinstance(exc, HTRError) else _internal(exc))
        return EXIT_ERROR
    return int(result or 0)


# --------------------------------------------------------------------------
# parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m htr",
        description="Handwritten text recognition: Easter2 beside EasyOCR and Tesseract.",
        epilog="Exit status: 0 on success, 2 when any input or engine failed "
        "(each failure is one line 'error: <what>: <reason>' on stderr).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    rec = sub.add_parser(
        "recognize",
        help="read handwriting in image files",
        description="Read the text in each IMAGE with one engine.",
        epilog="With --json, one JSON object per image per line on stdout: "
        '{"image": path as given, "engine", "text", "seconds" (recognition time of that '
        'image, model loading excluded), "layout", and "confidence"/"lines" where known}. '
        "A bad image prints 'error: <path>: <reason>' on stderr; the others are still read "
        "and the exit status is 2. An engine that cannot run prints "
        "'error: <engine>: <reason>' and exits 2.",
    )
    rec.add_argument("--engine", choices=ENGINE_CHOICES, default="easter2", help="recognizer (default: easter2)")
    rec.add_argument(
        "--decoder",
        choices=DECODER_CHOICES,
        default=None,
        help="CTC decoding for easter2 (default: greedy); lm: beam search with a character "
        "language model fitted on the train-split text of $IAM_DIR (else ../shared/iam)",
    )
    rec.add_argument(
        "--weights",
        metavar="PATH",
        default=None,
        help="Easter2 weights file (default: models/easter2.weights.h5)",
    )
    rec.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="auto",
        help="line: the image is one text line; page: find the lines first; "
        "auto (default): page when the image is taller than 400 px and less than 4x as wide as high",
    )
    rec.add_argument("--json", action="store_true", help="one JSON object per image per line")
    rec.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, TIFF, BMP, GIF, WebP)")
    rec.set_defaults(func=cmd_recognize)

    bat = sub.add_parser(
        "batch",
        help="read many images (folders, globs, manifests) on Ray Data into JSON lines, Parquet, PAGE-XML, ALTO",
        description="Read every image of INPUT (image files, folders searched recursively, globs, or manifests: "
        ".txt/.lst files listing one image a line) with each --engine, on Ray Data: a pool of workers, each "
        "holding one engine loaded once, reads the images exactly as `recognize` does (pages segmented as "
        "--layout auto does). Ray is started on this machine (workers = cores / --threads) unless "
        "--ray-address names a cluster.",
        epilog="DIR gets results.jsonl (one JSON object per text line: image, engine, line, lines, x, y, w, h, "
        "text, confidence, seconds, layout, width, height) and errors.jsonl (image, engine, reason) as it goes, "
        "then results.parquet and, with --format, DIR/page/<engine>/<name>.page.xml or "
        "DIR/alto/<engine>/<name>.alto.xml. A bad image goes to errors.jsonl with its reason ('error: <image>: "
        "<reason>' on stderr too) and the others are read; the exit status is then 2. Ctrl-C keeps what was "
        "read: run again with --resume.",
    )
    bat.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, globs or manifests")
    bat.add_argument("--out", required=True, metavar="DIR", help="the output folder")
    bat.add_argument("--engine", action="append", choices=ENGINE_CHOICES, default=None,
                     help="an engine to read with; repeat for several (default: easter2)")
    bat.add_argument("--decoder", choices=DECODER_CHOICES, default=None, help="CTC decoding for easter2")
    bat.add_argument("--weights", metavar="PATH", default=None, help="Easter2 weights file")
    bat.add_argument("--layout", choices=LAYOUTS, default="auto", help="as for recognize (default: auto)")
    bat.add_argument("--format", action="append", choices=("page", "alto"), default=None,
                     help="also write one PAGE-XML (2019-07-15) or ALTO (4.4) file per image; repeat for both")
    bat.add_argument("--resume", action="store_true",
                     help="keep the images already complete in DIR and read only the others")
    bat.add_argument("--workers", type=int, default=None, metavar="N",
                     help="workers (Ray actors) per engine (default: Ray's CPUs / --threads)")
    bat.add_argument("--threads", type=int, default=1, metavar="T",
                     help="CPUs and int8 reader threads per worker (default: 1)")
    bat.add_argument("--batch-size", type=int, default=8, metavar="B",
                     help="images per Ray task: a killed worker's task is read again (default: 8)")
    bat.add_argument("--ray-address", default=None, metavar="ADDR",
                     help="join this Ray cluster (e.g. auto, or HEAD:6379) instead of starting Ray here")
    bat.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G",
                     help="GPUs each worker reserves (default: 0); Easter2 reads in float on a GPU it sees")
    bat.add_argument("--executor", choices=("ray", "local"), default="ray",
                     help="ray (default), or local: one engine in this process, a plain loop (no Ray)")
    bat.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="a progress line on stderr (default: when stderr is a terminal)")
    bat.set_defaults(func=cmd_batch)

    eng = sub.add_parser("engines", help="list the engines and whether they can run here")
    eng.add_argument("--json", action="store_true", help="one JSON object per engine per line")
    eng.set_defaults(func=cmd_engines)

    iam = sub.add_parser("iam", help="the IAM Handwriting Database (fetch your registered copy)")
    iam_sub = iam.add_subparsers(dest="iam_command", metavar="ACTION")
    iam_sub.required = True
    fetch = iam_sub.add_parser(
        "fetch",
        help="download and unpack the IAM files you are registered for",
        description="Download and unpack IAM files with your IAM registration. Credentials come "
        "from IAM_USERNAME and IAM_PASSWORD, or a prompt; they are never written to disk or logs. "
        "The files are for non-commercial research only and may not be redistributed.",
    )
    fetch.add_argument("--dest", metavar="DIR", default=None, help="where to unpack (default: $IAM_DIR, else ~/iam)")
    fetch.add_argument(
        "--url",
        metavar="BASE",
        default=None,
        help="base URL of the IAM files (default: https://fki.tic.heia-fr.ch/DBs/iamDB/data/)",
    )
    fetch.add_argument(
        "--parts",
        nargs="+",
        metavar="PART",
        default=None,
        help="which parts to fetch: ascii lines forms sentences words xml (default: ascii lines)",
    )
    fetch.add_argument("--force", action="store_true", help="download again parts already unpacked")
    fetch.set_defaults(func=cmd_iam_fetch)

    iam_dir_help = "IAM folder (default: $IAM_DIR, else ../shared/iam beside the project)"
    info = iam_sub.add_parser("info", help="what an IAM folder holds: lines, forms, writers, splits")
    info.add_argument("--iam-dir", metavar="DIR", default=None, help=iam_dir_help)
    info.set_defaults(func=cmd_iam_info)

    lines = iam_sub.add_parser(
        "lines",
        help="list line ids and ground truth (tab-separated)",
        description="Print 'ID<TAB>TEXT' per line (with --paths: 'ID<TAB>IMAGE<TAB>TEXT'). "
        "For your own use only: IAM ground truth may not be redistributed.",
    )
    lines.add_argument("--iam-dir", metavar="DIR", default=None, help=iam_dir_help)
    lines.add_argument("--split", metavar="NAME", default=None, help="only the lines of this split (e.g. test)")
    lines.add_argument("--scheme", default="aachen", help="split scheme under splits/ (default: aachen)")
    lines.add_argument("--available", action="store_true", help="only lines with an image on disk")
    lines.add_argument("--paths", action="store_true", help="add the line image path (empty if cut from a form)")
    lines.set_defaults(func=cmd_iam_lines)

    ev = sub.add_parser(
        "evaluate",
        help="error rates of the engines on the lines of an IAM split",
        description="Read every line of an IAM split that has an image with each engine and print "
        "CER, WER, exact lines, the median time per line and the most frequent character errors.",
        epilog="With --json, one JSON object per line read ({\"line\", \"engine\", \"text\", \"cer\", "
        "\"wer\", \"seconds\"}) and then one per engine with \"summary\": true. An engine that cannot "
        "run prints 'error: <engine>: <reason>'; the others are still evaluated and the exit status is 2.",
    )
    ev.add_argument("--iam-dir", metavar="DIR", default=None, help=iam_dir_help)
    ev.add_argument("--scheme", default="aachen", help="split scheme under splits/ (default: aachen)")
    ev.add_argument("--split", default="test", help="which split (default: test)")
    ev.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N lines")
    ev.add_argument("--engine", action="append", choices=ENGINE_CHOICES, default=None,
                    help="an engine to evaluate; repeat for several (default: all three)")
    ev.add_argument("--decoder", choices=DECODER_CHOICES, default=None, help="CTC decoding for easter2")
    ev.add_argument("--weights", metavar="PATH", default=None, help="Easter2 weights file")
    ev.add_argument("--confusions", type=int, default=8, metavar="K",
                    help="how many of the most frequent character errors to list per engine (default: 8)")
    ev.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ev.set_defaults(func=cmd_evaluate)

    data = sub.add_parser("data", help="line data: import ALTO/PAGE pages, text mapping, the hands split")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    data_sub.required = True
    hands_help = "the hands folder (default: $HANDS_DIR, else ../shared/hands beside the project)"
    imp = data_sub.add_parser(
        "import",
        help="cut the lines of ALTO / PAGE-XML pages into a line set",
        description="Read each ALTO (v2-v4) or PAGE-XML file, cut its text lines out of the image it names "
        "(found beside the XML) by their polygons, and write them as a line set: DIR/lines.tsv and "
        "DIR/lines/<hand>/<id>.png. Texts are kept as written; an existing lines.tsv in DIR is replaced.",
        epilog="A line that cannot be used is listed as 'skipped: <file>: line <id>: <reason>' on stdout; "
        "a file that cannot be used prints 'error: <file>: <reason>' on stderr, the others are still "
        "imported and the exit status is 2.",
    )
    imp.add_argument("pages", nargs="+", metavar="PAGE.xml", help="ALTO or PAGE-XML files")
    imp.add_argument("--out", required=True, metavar="DIR", help="the line set's folder")
    imp.add_argument("--source", default=None, metavar="NAME", help="the lines' source (default: DIR's name)")
    imp.add_argument("--hand", default=None, metavar="NAME", help="the writer of every line (default: each page's name)")
    imp.set_defaults(func=cmd_data_import)

    mapping = data_sub.add_parser(
        "mapping",
        help="what mapping the texts into the alphabet does to each source of the hands folder",
        description="Per source (copiste, poilus, and unipen where htr.data.unipen is there): lines, kept as "
        "is, mapped, dropped by reason, and the characters that caused drops (htr.data.text.map_lines).",
    )
    mapping.add_argument("--hands-dir", metavar="DIR", default=None, help=hands_help)
    mapping.add_argument("--markdown", action="store_true", help="print a markdown table")
    mapping.set_defaults(func=cmd_data_mapping)

    split = data_sub.add_parser(
        "split",
        help="rewrite (or --check) models/training/hands_split.json from the fixed rule",
        description="Apply the writer split rule of htr.data.hands to the hands folder and rewrite "
        "models/training/hands_split.json. The split is fixed and committed: use --check.",
    )
    split.add_argument("--hands-dir", metavar="DIR", default=None, help=hands_help)
    split.add_argument("--check", action="store_true",
                       help="only compare; exit 1 (and say what differs) if the file would change")
    split.set_defaults(func=cmd_data_split)

    dinfo = data_sub.add_parser("info", help="what a line set holds: lines, hands, pages, how many map into the alphabet")
    dinfo.add_argument("dir", metavar="DIR", help="a line set (a folder with lines.tsv)")
    dinfo.set_defaults(func=cmd_data_info)

    ad = sub.add_parser(
        "adapt",
        help="fine-tune Easter2 on one writer's lines (a line set) and write the adapted weights",
        description="Adapt Easter2 to one writer: train a copy of the model for at most --seconds on the "
        "lines of LINES (a folder with lines.tsv and the line images, as `data import` writes), keeping the "
        "last --held-out lines back to measure the CER before and after and to stop early. Texts are mapped "
        "into the model's alphabet; a line that cannot be is skipped. The weights given are never changed.",
        epilog="Use the result with --weights (recognize, evaluate) or HTR_WEIGHTS. A missing or empty line "
        "set, an unreadable image or no usable line prints 'error: <what>: <reason>' and exits 2.",
    )
    ad.add_argument("lines", metavar="LINES", help="a line set: a folder with lines.tsv (id, image, text columns)")
    ad.add_argument("--out", required=True, metavar="PATH", help="where to write the adapted weights (*.weights.h5)")
    ad.add_argument("--seconds", type=float, default=60.0, help="wall-clock budget of the training (default: 60)")
    ad.add_argument("--held-out", type=int, default=None, metavar="N",
                    help="lines kept back for the CER before/after and early stopping "
                    "(default: 2 from 8 lines, 1 from 3, else 0)")
    ad.add_argument("--weights", metavar="PATH", default=None,
                    help="Easter2 weights to start from (default: models/easter2.weights.h5)")
    ad.add_argument("--seed", type=int, default=0, help="random seed of the batches and augmentation (default: 0)")
    ad.set_defaults(func=cmd_adapt)

    for name, (_module, help_text) in DELEGATED.items():
        # Parsed by the module itself (see main); listed here for --help.
        sub.add_parser(name, help=help_text, add_help=False)

    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow: warnings and errors only
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    try:
        if argv and argv[0] in DELEGATED:
            return run_delegated(argv[0], argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `python -m htr recognize ... | head -1`
        # Point stdout at /dev/null so Python's flush at exit does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
