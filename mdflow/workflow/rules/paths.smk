# File layout of a campaign. RESULTS is the campaign's results directory (config key `results`);
# SCRATCH is its directory in the site's work directory (cluster scratch; a local directory under
# the local profile): <workdir>/<campaign>; LOGS is logs/<campaign>. Two campaigns share no file.

SETUP = RESULTS + "/{system}/setup"
STAGED = SCRATCH + "/{system}/input"
SEGMENT = SCRATCH + "/{system}/rep{replica}/seg{segment}"
PULLED = RESULTS + "/{system}/rep{replica}/seg{segment}"
ANALYSIS = RESULTS + "/{system}/analysis"
CONVERGENCE = RESULTS + "/{system}/convergence"


def segment_ids(system, count=None):
    """Ids of the first `count` segments; by default of all segments `system` runs (for adaptive
    systems that depends on the convergence checkpoints, see converge.smk: segment_count)."""
    return [f"{k:03d}" for k in range(segment_count(system) if count is None else count)]


def pulled_pairs(system, ids):
    """{replica: [(dcd, csv), ...]} of the segments `ids` of every replica of `system`."""
    return {
        str(r): [
            (PULLED.format(system=system, replica=r, segment=k) + ".dcd",
             PULLED.format(system=system, replica=r, segment=k) + ".csv")
            for k in ids
        ]
        for r in range(SYSTEMS[system].replicas)
    }


def pulled_segments(system, count=None):
    """{replica: [(dcd, csv), ...]} for every segment (or the first `count`) of every replica of `system`."""
    return pulled_pairs(system, segment_ids(system, count))
