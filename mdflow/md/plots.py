"""The analysis plots (matplotlib, Agg): time series with each replica's equilibrated mean ± error, RMSF
per residue, secondary structure over time. Each is written atomically: no half-written PNG on a full
disk."""

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    plt = _pyplot()
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        figure.savefig(tmp)
        tmp.replace(path)
    except OSError as error:  # e.g. a full disk: leave no half-written plot, name the file
        tmp.unlink(missing_ok=True)
        if error.filename is None and error.errno is not None:
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    finally:
        plt.close(figure)


def time_series(series_by_replica: dict, key: str, ylabel: str, title: str, path: Path,
                judged: dict, empty_note: str = "") -> None:
    """One line per replica; over its equilibrated part (from the dotted line) its mean ± standard error as
    a band. `judged`: {replica: {key: statistics}}. Without data for `key`, a panel saying why."""
    figure, axes = _pyplot().subplots(figsize=(6, 3.5), dpi=100)
    drawn = False
    for replica, series in sorted(series_by_replica.items()):
        if series.get(key) is None:
            continue
        drawn = True
        (line,) = axes.plot(series["time_ps"], series[key], label=f"replica {replica}", linewidth=1)
        stats = judged.get(replica, {}).get(key)
        if stats and "from_ps" in stats:  # a fixed volume's density has no band
            start, end = stats["from_ps"], series["time_ps"][-1]
            axes.axvline(start, color=line.get_color(), linestyle=":", linewidth=0.8)
            axes.fill_between([start, end], stats["mean"] - stats["se"], stats["mean"] + stats["se"],
                              color=line.get_color(), alpha=0.25, linewidth=0)
            axes.hlines(stats["mean"], start, end, color=line.get_color(), linewidth=1.5)
    if drawn:
        axes.legend(fontsize="small", title="band: mean ± SE after equilibration", title_fontsize="x-small")
    else:
        axes.text(0.5, 0.5, empty_note, ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("time (ps)")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    _save(figure, path)


def rmsf(rmsf_by_replica: dict, title: str, path: Path) -> None:
    """RMSF (nm) per residue, one line per replica."""
    figure, axes = _pyplot().subplots(figsize=(6, 3.5), dpi=100)
    for replica, rows in sorted(rmsf_by_replica.items()):
        axes.plot([r[0] for r in rows], [r[2] for r in rows], marker="o", markersize=2, linewidth=1,
                  label=f"replica {replica}")
    axes.set_xlabel("residue number")
    axes.xaxis.get_major_locator().set_params(integer=True)  # residues are whole numbers (no 1.25 ticks)
    axes.set_ylabel("RMSF, heavy atoms (nm)")
    axes.set_title(title)
    axes.legend(fontsize="small")
    _save(figure, path)


def secondary(fractions_by_replica: dict, times_by_replica: dict, title: str, path: Path) -> None:
    """Helix and strand fractions over time per replica (coil is the rest)."""
    figure, axes = _pyplot().subplots(figsize=(6, 3.5), dpi=100)
    drawn = False
    for replica, fractions in sorted(fractions_by_replica.items()):
        if fractions is None:
            continue
        drawn = True
        times = times_by_replica[replica]
        (line,) = axes.plot(times, fractions["helix"], linewidth=1, label=f"helix, replica {replica}")
        axes.plot(times, fractions["strand"], linewidth=1, linestyle="--", color=line.get_color(),
                  label=f"strand, replica {replica}")
    if drawn:
        axes.legend(fontsize="x-small")
        axes.set_ylim(-0.02, 1.02)
    else:
        axes.text(0.5, 0.5, "no residues DSSP can assign", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("time (ps)")
    axes.set_ylabel("fraction of residues (DSSP)")
    axes.set_title(title)
    _save(figure, path)
