# SPDX-License-Identifier: Apache-2.0
"""Import the research corpus's version tree into a fresh archive, then export it to git.

Prints: versions imported per second (with the AI-training analysis of every version and change), the archive's
size with and without the full-text index, the raw text size, and the git export's pack size after
``git gc --aggressive``. Targets: ≥ 100 versions/s; stored versions + snapshots ≤ 1.5 × the git pack.

    python bench/import_corpus.py [--corpus DIR] [--no-alternates] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

# tosmonitor is imported inside the functions that use it: the import's worker processes (spawn) re-import this
# file, and like the ``tosmonitor`` command's, they should load only what they run.

MIB = 1024 * 1024


def default_corpus() -> Path:
    env = os.environ.get("TOSMONITOR_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def fts_size(archive) -> int:  # noqa: ANN001
    """Bytes used by the full-text index's shadow tables (dbstat), 0 when dbstat is unavailable."""
    try:
        row = archive.db.execute(
            "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE 'versions_fts%'"
        ).fetchone()
    except Exception:  # noqa: BLE001 - SQLite built without dbstat
        return 0
    return int(row[0])


def pack_size(repo: Path) -> int:
    subprocess.run(["git", "gc", "--aggressive", "--quiet"], cwd=repo, check=True)
    out = subprocess.run(
        ["git", "count-objects", "-v"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout
    sizes = dict(line.split(": ") for line in out.strip().splitlines())
    return int(sizes["size-pack"]) * 1024


def main(argv: list[str] | None = None) -> int:
    from tosmonitor.archive import Archive
    from tosmonitor.export import export_git
    from tosmonitor.imports import import_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--no-alternates", action="store_true", help="Skip the alt-<collection> folders.")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Analysis processes.")
    parser.add_argument("--keep", type=Path, help="Keep the archive and git export in this folder.")
    args = parser.parse_args(argv)
    versions_dir = args.corpus / "versions"
    if not versions_dir.is_dir():
        print(f"no corpus at {versions_dir} (pass --corpus or set TOSMONITOR_CORPUS)", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="tosmonitor-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db_path, repo = work / "import.db", work / "git-export"
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        path.unlink(missing_ok=True)
    shutil.rmtree(repo, ignore_errors=True)
    try:
        with Archive(db_path) as archive:
            started = time.perf_counter()
            report = import_dataset(
                archive, versions_dir, alternates=not args.no_alternates, workers=args.workers
            )
            elapsed = time.perf_counter() - started
            archive.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes = archive.storage_sizes()
            fts = fts_size(archive)
            file_size = db_path.stat().st_size
            print(
                f"imported {report.versions} versions ({report.changes} changes, {report.skipped} identical "
                f"skipped) of {report.documents} documents in {elapsed:.1f} s: "
                f"{report.versions / elapsed:.0f} versions/s with {args.workers} workers"
            )
            print(f"raw text: {sizes['versions_raw'] / MIB:.1f} MiB")
            stored = sizes["versions_stored"] + sizes["snapshots_stored"]
            print(f"stored versions + snapshots (no full-text index): {stored / MIB:.2f} MiB")
            print(f"archive file: {file_size / MIB:.1f} MiB, of which full-text index {fts / MIB:.1f} MiB")
            print(f"archive file without the full-text index: {(file_size - fts) / MIB:.1f} MiB")
            started = time.perf_counter()
            result = export_git(archive, repo)
            print(f"git export: {result.counts['commits']} commits in {time.perf_counter() - started:.1f} s")
        pack = pack_size(repo)
        print(f"git gc --aggressive size-pack: {pack / MIB:.2f} MiB")
        print(f"stored / git pack: {stored / pack:.2f} (target ≤ 1.5)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
