# File layout of a campaign. RESULTS is the project's results/; SCRATCH stands for the site's work
# directory (cluster scratch; a local directory under the local profile).

SETUP = RESULTS + "/{system}/setup"
STAGED = SCRATCH + "/{system}/input"
SEGMENT = SCRATCH + "/{system}/rep{replica}/seg{segment}"
PULLED = RESULTS + "/{system}/rep{replica}/seg{segment}"
ANALYSIS = RESULTS + "/{system}/analysis"


def segment_ids(system):
    return [f"{k:03d}" for k in range(SYSTEMS[system].segments)]


def pulled_segments(system):
    """{replica: [(dcd, csv), ...]} for every segment of every replica of `system`."""
    return {
        str(r): [
            (PULLED.format(system=system, replica=r, segment=k) + ".dcd",
             PULLED.format(system=system, replica=r, segment=k) + ".csv")
            for k in segment_ids(system)
        ]
        for r in range(SYSTEMS[system].replicas)
    }
