"""The report's methods section in words: what was done to each system, with which software and
parameters, as a chemist would write it. Pure: the sheet rows, the campaign's settings and the versions
in, sentences out."""

from mdflow.md.forcefields import forcefield_files

EXPLICIT_CUTOFF_NM = 0.9   # mdflow/md/setup.py: PME with this real-space cutoff, HBonds constraints


def _join(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else "; ".join(phrases[:-1]) + "; then " + phrases[-1]


def system_methods(row: dict, settings: dict, protocol: dict | None) -> list[str]:
    """Sentences for one system: preparation, model, minimization, equilibration, production."""
    explicit = row["solvent"] == "explicit"
    files = ", ".join(forcefield_files(row["forcefield"], row["solvent"]))
    solvent = (f"solvated in a periodic box with {settings.get('padding_nm', 1.0):g} nm of water around the solute "
               f"and neutralized with Na⁺/Cl⁻ at {settings.get('ionic_strength_molar', 0.1):g} M; electrostatics by "
               f"PME with a {EXPLICIT_CUTOFF_NM:g} nm real-space cutoff"
               if explicit else "in implicit solvent (generalized Born, OBC) without cutoff")
    iterations = settings.get("minimize_iterations", 0)
    sentences = [
        f"{row['structure']} was prepared with PDBFixer (missing atoms added, hydrogens at pH {row.get('ph', 7.0):g}), "
        f"parameterized with {row['forcefield']} ({files}) and {solvent}; bonds to hydrogen were constrained.",
        f"The structure was energy-minimized (L-BFGS, rounds of up to {iterations} iterations until constraints "
        f"held)." if iterations else "The structure was energy-minimized (L-BFGS) to convergence.",
    ]
    stages = (protocol or {}).get("stages") or []
    if stages:
        sentences.append(f"Each replica was equilibrated in {len(stages)} stage{'s' if len(stages) > 1 else ''}: "
                         f"{_join(stages)}.")
    ensemble = (protocol or {}).get("production", "NPT" if explicit else "NVT")
    pressure = f" and {settings.get('pressure_bar', 1.0):g} bar (Monte Carlo barostat)" if ensemble == "NPT" else ""
    sentences.append(
        f"Production: {row['replicas']} independent replica{'s' if row['replicas'] > 1 else ''} of "
        f"{row['length_ps']:g} ps each in the {ensemble} ensemble at {row['temperature_k']:g} K{pressure}, "
        f"Langevin middle integrator (friction {settings.get('friction_per_ps', 1.0):g}/ps), "
        f"{settings.get('timestep_fs', 2.0):g} fs timestep, a frame every {settings.get('report_interval_ps', 1.0):g} ps, "
        f"run as {row['segments']} restartable segment{'s' if row['segments'] > 1 else ''} per replica.")
    return sentences


def software(versions: dict, platform: str | None) -> str:
    names = [f"{name} {versions[key]}" for key, name in (
        ("mdflow", "mdflow"), ("openmm", "OpenMM"), ("pdbfixer", "PDBFixer"), ("mdtraj", "MDTraj"),
        ("pymbar", "pymbar"), ("snakemake", "Snakemake")) if versions.get(key)]
    where = f" on the {platform} platform" if platform else ""
    return f"Software: {', '.join(names)}{where}."


ANALYSIS = ("Analysis: RMSD (heavy atoms, to the minimized structure) and radius of gyration of the solute with "
            "MDTraj; RMSF per residue over the equilibrated frames after superposition; secondary structure by "
            "DSSP (MDTraj, simplified: helix, strand, coil). Each series' equilibrated part starts where pymbar's "
            "detect_equilibration finds it (at most half-way); means carry standard errors from the statistical "
            "inefficiency of the series; the pooled value of several replicas is their mean ± the standard error "
            "of the replica means.")
