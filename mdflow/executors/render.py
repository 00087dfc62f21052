"""Pure rendering: job resources + site -> JobRequest -> batch script text.

Templates use jinja2 block inheritance: base.sh.j2 -> <scheduler>.sh.j2 -> optionally `job.sh.j2`
in the profile directory (which `{% extends "<scheduler>.sh.j2" %}` and overrides blocks).
"""

import dataclasses
import re
import shlex
from pathlib import Path

import jinja2

from mdflow.errors import MdflowError
from mdflow.executors.adapter import JobRequest, format_walltime, parse_walltime
from mdflow.executors.outcome import outcome_path
from mdflow.executors.resource_names import batch_resources
from mdflow.ledger import job_key  # noqa: F401 (the key lives with the ledger that stores it)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
PROFILE_TEMPLATE = "job.sh.j2"


NAME_LIMIT = 120  # characters of a batch job's name (and of its log and script file names' stem)
_EXACT_PART = re.compile(r"[A-Za-z0-9_]+(?:-+[A-Za-z0-9_]+)*")


def sanitize_job_name(rule: str, wildcards: dict, limit: int = NAME_LIMIT) -> str:
    """`rule.value...` reduced to [A-Za-z0-9_.-]; schedulers and file systems accept it. Readable,
    not exact: `p-q` and `p/q` both become `p-q` (see batch_job_name)."""
    parts = [rule] + [f"{value}" for value in wildcards.values()]
    name = ".".join(re.sub(r"[^A-Za-z0-9_-]+", "-", str(p)).strip("-") or "x" for p in parts)
    return name[:limit]


def batch_job_name(rule: str, wildcards: dict, key: str, limit: int = NAME_LIMIT, exact: bool = True) -> str:
    """The batch job's name (also its log's and script's): the readable name when it spells rule and
    wildcard values exactly (every value already [A-Za-z0-9_-], not starting or ending with '-', and
    the whole within `limit`), else the readable name cut to fit plus `.h<key>`. Within one rule the
    two forms never meet: an exact name has one part per wildcard after the rule, a keyed one
    one more (or is cut, and ends in a part no wildcard value of an exact name would be, short of
    a 48-bit hash collision). `exact=False` (group jobs: one group id, many group jobs) always keys."""
    readable = sanitize_job_name(rule, wildcards, limit=10 ** 6)
    exact = exact and all(_EXACT_PART.fullmatch(str(p)) for p in [rule, *wildcards.values()])
    if exact and len(readable) <= limit:
        return readable
    return f"{readable[:limit - len(key) - 2].rstrip('.-')}.h{key}"


def layered_runtime(levels) -> int:
    """A group job's walltime in minutes: its members' runtimes by topological level (Snakemake's
    GroupJob.toposorted); each level takes as long as its longest member, levels run one after
    another. Members of a level run side by side: the group asks for their summed cores/memory."""
    return sum(max(level) for level in levels if level)


def queue_limits(site: dict) -> dict:
    """{queue: {'max_walltime_min': int|None, 'max_nodes': int|None, 'max_queued': int|None}} in profile order."""
    limits = {}
    for name, spec in (site.get("queues") or {}).items():
        spec = spec or {}
        wall = spec.get("max_walltime")
        limits[name] = {
            "max_walltime_min": parse_walltime(wall) if wall is not None else None,
            "max_nodes": spec.get("max_nodes"),
            "min_nodes": spec.get("min_nodes"),
            "max_queued": spec.get("max_queued"),
        }
    return limits


def _fits(limit: dict, walltime_min: int, nodes: int) -> bool:
    return ((limit["max_walltime_min"] is None or walltime_min <= limit["max_walltime_min"])
            and (limit["max_nodes"] is None or nodes <= limit["max_nodes"])
            and (limit["min_nodes"] is None or nodes >= limit["min_nodes"]))


def choose_queue(site: dict, walltime_min: int, nodes: int, requested: str | None, job: str) -> str | None:
    """The queue a job goes to: the one it asks for (checked), else the site's default queue if it
    fits, else the first listed queue that fits. Never one whose limits would reject the job."""
    limits = queue_limits(site)
    site_name = site.get("name", "this site")
    if requested:
        if limits and requested not in limits:
            raise MdflowError(f"job {job}: queue {requested!r} is not a queue of site {site_name} "
                              f"(queues: {', '.join(limits)})")
        if limits and not _fits(limits[requested], walltime_min, nodes):
            raise MdflowError(f"job {job}: {walltime_min} min on {nodes} node(s) exceeds queue {requested!r} "
                              f"of site {site_name} ({_describe(requested, limits[requested])})")
        return requested
    default = site.get("queue")
    if not limits:
        return default
    order = ([default] if default in limits else []) + [q for q in limits if q != default]
    for name in order:
        if _fits(limits[name], walltime_min, nodes):
            return name
    described = "; ".join(_describe(n, limits[n]) for n in limits)
    raise MdflowError(f"job {job}: {walltime_min} min on {nodes} node(s) fits no queue of site {site_name} "
                      f"({described}); lower the job's runtime/nodes or segment_ps")


def fit_scheduler_limits(request: JobRequest, rule: str, site: dict, scheduler_limits: dict,
                         scheduler: str, default_walltime: bool = False) -> JobRequest:
    """`request` as it can run under the limits the scheduler itself reports for the queue it goes to
    (`scheduler_limits`: adapter.parse_queue_limits; its default queue when the job names none), where
    the profile states no such limit for that queue (the profile's word wins: choose_queue holds jobs
    to it). Slurm would keep a job over them pending with reason PartitionTimeLimit/PartitionNodeLimit
    forever. A job whose rule sets no runtime (`default_walltime`: it has the site's) gets the queue's
    limit, as it would where no time is asked for; one whose own runtime or node count is over a limit
    is refused (MdflowError, one line)."""
    queue = request.queue or next((q for q, limit in scheduler_limits.items() if limit.get("default")), None)
    if queue is None:
        return request
    told = queue_limits(site).get(queue, {})
    reported = scheduler_limits.get(queue) or {}
    limit = reported.get("max_walltime_min")
    if told.get("max_walltime_min") is None and limit is not None and request.walltime_min > limit:
        if not default_walltime:
            _refuse(request, rule, scheduler_limits, scheduler, queue, _walltime_fits,
                    f"runtime {request.walltime_min} min exceeds the {format_walltime(limit)} limit of", "runtime")
        request = dataclasses.replace(request, walltime_min=limit)
    if told.get("max_nodes") is None and told.get("min_nodes") is None and not _nodes_fit(reported, request):
        bounds = " to ".join(str(n) for n in (reported.get("min_nodes") or 1, reported.get("max_nodes")) if n)
        _refuse(request, rule, scheduler_limits, scheduler, queue, _nodes_fit,
                f"{request.nodes} node(s) are outside the {bounds} node(s) allowed by", "nodes")
    return request


def _walltime_fits(limit: dict, request: JobRequest) -> bool:
    return limit.get("max_walltime_min") is None or request.walltime_min <= limit["max_walltime_min"]


def _nodes_fit(limit: dict, request: JobRequest) -> bool:
    return ((limit.get("max_nodes") is None or request.nodes <= limit["max_nodes"])
            and (limit.get("min_nodes") is None or request.nodes >= limit["min_nodes"]))


def _refuse(request: JobRequest, rule: str, scheduler_limits: dict, scheduler: str, queue: str, fits,
            problem: str, what: str) -> None:
    fitting = [q for q, limit in scheduler_limits.items() if fits(limit, request)]
    raise MdflowError(
        f"job {request.name} (rule {rule}): {problem} {scheduler} queue {queue}, where it would wait forever; "
        f"lower the rule's {what}" + (f", or send it to a queue that allows it ({', '.join(fitting)}: `queue:` in "
                                      f"the profile, or resources: partition=NAME)" if fitting else ""))


def choose_ensemble_queue(site: dict, walltime_min: int, nodes_needed: int) -> tuple:
    """(queue, nodes to ask for, why) for an ensemble whose members need `nodes_needed` nodes: the
    queue that charges the fewest node-hours. A queue with a node minimum (Theta's default: 128)
    takes the ensemble only by asking for that minimum, so small work goes to a queue without one
    (a debug queue) when its walltime fits; ties go to the site's default queue, then listed order."""
    limits = queue_limits(site)
    if not limits:
        return site.get("queue"), nodes_needed, "the site lists no queues"
    default = site.get("queue")
    order = ([default] if default in limits else []) + [q for q in limits if q != default]
    options, skipped = [], []
    for name in order:
        limit = limits[name]
        if limit["max_walltime_min"] is not None and walltime_min > limit["max_walltime_min"]:
            skipped.append(f"{name} allows {format_walltime(limit['max_walltime_min'])}")
            continue
        if limit["max_nodes"] is not None and nodes_needed > limit["max_nodes"]:
            skipped.append(f"{name} allows {limit['max_nodes']} nodes")
            continue
        options.append((max(nodes_needed, limit["min_nodes"] or 1), name))
    if not options:
        raise MdflowError(f"ensemble of {walltime_min} min on {nodes_needed} node(s) fits no queue of site "
                          f"{site.get('name', 'this site')} ({'; '.join(skipped)})")
    nodes, queue = min(options, key=lambda option: option[0])  # min() keeps the first of equals
    why = f"{nodes_needed} node(s) of work"
    if nodes > nodes_needed:
        why += f", asked as {nodes}: queue {queue} takes no fewer"
    wasteful = [f"{n} needs at least {limits[n]['min_nodes']} nodes" for c, n in options
                if n != queue and c > nodes]
    return queue, nodes, "; ".join([why] + wasteful + skipped)


def _describe(name: str, limit: dict) -> str:
    wall = format_walltime(limit["max_walltime_min"]) if limit["max_walltime_min"] else "no walltime limit"
    nodes = f", max {limit['max_nodes']} nodes" if limit["max_nodes"] else ""
    least = f", min {limit['min_nodes']} nodes" if limit["min_nodes"] else ""
    return f"{name}: max {wall}{nodes}{least}"


def build_request(site: dict, rule: str, wildcards: dict, resources: dict, threads: int,
                  attempt: int, log_dir: str, workdir: str, outputs=(), group: bool = False) -> JobRequest:
    """The request of one job (or one group job: `group`, with `resources` the group's and the
    walltime its layered runtime); its key is exact (job_key), its name readable (batch_job_name)."""
    key = job_key(rule, wildcards, outputs)
    name = batch_job_name(rule, wildcards, key, exact=not group)
    try:
        walltime = parse_walltime(resources.get("runtime") or site.get("default_walltime", 60))
    except ValueError:
        raise MdflowError(f"job {name}: resource runtime={resources.get('runtime')!r} is not a positive "
                          f"number of minutes or HH:MM:SS") from None
    nodes = int(resources.get("nodes") or 1)
    tasks = int(resources.get("tasks") or 1)
    cpus_per_task = int(resources.get("cpus_per_task") or threads or 1)
    named = batch_resources(resources, site.get("scheduler"), tasks * cpus_per_task, name)
    queue = choose_queue(site, walltime, nodes, named.queue, name)
    whole_nodes = bool(site.get("whole_nodes"))
    return JobRequest(
        name=name,
        key=key,
        queue=queue,
        walltime_min=walltime,
        nodes=nodes,
        tasks=tasks,
        cpus_per_task=cpus_per_task,
        mem_mb=None if whole_nodes else named.mem_mb,
        mem_mb_per_cpu=None if whole_nodes else named.mem_mb_per_cpu,
        # a job's GPUs are asked for where the site has them (gpus_per_node): CPU-only sites unchanged
        gpus=int(resources.get("gpus") or resources.get("gpu") or 0) if site.get("gpus_per_node") else 0,
        account=named.account or site.get("account"),
        log_path=f"{log_dir}/{name}.a{attempt}.log",
        workdir=workdir,
        extra=tuple(site.get("directives") or ()) + named.directives,
        select_extra=site.get("select_extra", ""),
        cluster=named.cluster or site.get("cluster"),
        whole_nodes=whole_nodes,
    )


def _environment(profile_dir: Path | None) -> jinja2.Environment:
    search = [str(profile_dir)] if profile_dir else []
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search + [str(TEMPLATE_DIR)]),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
    )
    environment.filters["shellquote"] = lambda value: shlex.quote(str(value))
    return environment


def render_script(adapter, request: JobRequest, site: dict, exec_job: str, profile_dir: Path | None = None,
                  launches: list | None = None) -> str:
    """The batch script; `launches` (an ensemble's commands, run concurrently) replaces `exec_job`."""
    environment = _environment(profile_dir)
    use_profile = profile_dir is not None and (Path(profile_dir) / PROFILE_TEMPLATE).exists()
    template = environment.get_template(PROFILE_TEMPLATE if use_profile else adapter.TEMPLATE)
    try:
        directives = adapter.directives(request)
    except ValueError as error:  # e.g. Cobalt/PBS cannot express a blank in a path
        raise MdflowError(f"job {request.name}: {error}") from None
    for line in directives:
        if re.search(r"[\x00-\x1f\x7f]", line):  # a line break would end the comment: the rest runs as shell
            raise MdflowError(f"job {request.name}: scheduler directive {line!r} holds a line break or control "
                              f"character; expected one line")
    return template.render(
        name=request.name,
        site_name=site.get("name", ""),
        scheduler=adapter.NAME,
        directives=directives,
        env=site.get("env") or [],
        workdir=request.workdir,
        exec_job=exec_job,
        request=request,
        launcher=site.get("launcher", ""),
        launches=launches or [],
        max_launches=int((site.get("ensemble") or {}).get("max_launches", 1000)),
        outcome_path=outcome_path(request.log_path, request.workdir),
        job_id_ref="${%s:-}" % adapter.JOB_ID_VAR,
    )
