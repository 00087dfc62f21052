"""Packing short jobs into ensembles: one batch job whose members run concurrently. Pure planning.

Policy (profile `mdflow.yaml`):

    ensemble:
      short_runtime: 30        # minutes; a job whose runtime is at most this is "short" ...
      rules: [analyze_frame]   # ... and so is every job of these rules
      max_walltime: "01:00:00" # an ensemble's honest walltime never exceeds this (nor its queue's limit)
      max_members: 128
      nodes: 1                 # nodes per ensemble (cores_per_node each)
      max_launches: 1000       # simultaneous launcher calls per ensemble (Theta: 1000 apruns)
      gather_s: 10             # wait this long for more short jobs before packing a partial ensemble
      members_per_gpu: 1       # on a site with gpus_per_node: GPU members per GPU

On a site with GPUs (`gpus_per_node`), members that use GPUs are packed apart from the others:
each node has gpus_per_node x members_per_gpu slots, each slot one device and an equal share of
the node's cores, and a slot runs its members one after another (executors/batch.py places them).

Honest walltime: members are laid out in layers that fit the ensemble's cores; a layer takes as
long as its longest member and layers run one after another. mdflow pads that by 10% (at least one
minute) for start-up and never asks for more than the limit: it splits instead.
"""

import math
from dataclasses import dataclass

from mdflow.executors.adapter import parse_walltime


@dataclass(frozen=True)
class Member:
    key: object          # opaque to the planner (the executor passes its job)
    rule: str
    cores: int
    runtime_min: int
    gpus: int = 0


@dataclass(frozen=True)
class Policy:
    short_runtime_min: int | None
    rules: tuple
    max_walltime_min: int
    max_members: int
    nodes: int
    cores_per_node: int
    max_launches: int
    gather_s: float = 10.0
    gpus_per_node: int = 0
    members_per_gpu: int = 1

    @property
    def capacity(self) -> int:
        return self.nodes * self.cores_per_node

    @property
    def slots_per_node(self) -> int:
        """GPU slots of one node (0 on a site without GPUs)."""
        return self.gpus_per_node * self.members_per_gpu

    @property
    def slot_cores(self) -> int:
        return max(1, self.cores_per_node // self.slots_per_node) if self.slots_per_node else self.cores_per_node

    def gpu_weight(self, member: Member) -> int:
        """GPU slots a member takes: one (it shares its GPU with members_per_gpu - 1 others), or
        whole GPUs' worth when it uses several."""
        return 1 if member.gpus <= 1 else member.gpus * self.members_per_gpu

    def uses_gpus(self, member: Member) -> bool:
        return self.gpus_per_node > 0 and member.gpus > 0


@dataclass(frozen=True)
class Ensemble:
    members: tuple
    cores: int
    walltime_min: int
    slots: int = 0       # GPU slots used (0: a CPU ensemble)


def policy_from_site(site: dict) -> Policy | None:
    block = site.get("ensemble")
    if not block:
        return None
    short = block.get("short_runtime")
    return Policy(
        short_runtime_min=parse_walltime(short) if short is not None else None,
        rules=tuple(block.get("rules") or ()),
        max_walltime_min=parse_walltime(block.get("max_walltime", 60)),
        max_members=int(block.get("max_members", 128)),
        nodes=int(block.get("nodes", 1)),
        cores_per_node=int(site.get("cores_per_node", 1)),
        max_launches=int(block.get("max_launches", 1000)),
        gather_s=float(block.get("gather_s", 10)),
        gpus_per_node=int(site.get("gpus_per_node") or 0),
        members_per_gpu=int(block.get("members_per_gpu", 1)),
    )


def is_short(policy: Policy | None, rule: str, runtime_min: int, cores: int, gpus: int = 0) -> bool:
    if policy is None or cores > policy.capacity:
        return False
    if policy.gpus_per_node and gpus > 1:  # an ensemble slot has one device: such jobs go alone
        return False
    if rule in policy.rules:
        return True
    return policy.short_runtime_min is not None and runtime_min <= policy.short_runtime_min


def padded(walltime_min: int) -> int:
    return walltime_min + max(1, math.ceil(walltime_min * 0.1))


def cores_of(member: Member) -> int:
    return member.cores


def layers(members, capacity: int, weight=cores_of) -> list[list]:
    """Consecutive members grouped into layers whose weight (cores, or GPU slots) fits `capacity`."""
    result, current, used = [], [], 0
    for member in members:
        if current and used + weight(member) > capacity:
            result.append(current)
            current, used = [], 0
        current.append(member)
        used += weight(member)
    if current:
        result.append(current)
    return result


def honest_walltime(members, capacity: int, weight=cores_of) -> int:
    return sum(max(m.runtime_min for m in layer) for layer in layers(members, capacity, weight))


def nodes_needed(ensemble: "Ensemble", policy: Policy) -> int:
    """Nodes the ensemble's widest layer needs, at most the policy's."""
    return min(policy.nodes, max(1, math.ceil(ensemble.cores / max(1, policy.cores_per_node))))


def cores_needed(members, capacity: int, weight=cores_of) -> int:
    return max(sum(weight(m) for m in layer) for layer in layers(members, capacity, weight))


def plan(pending: list, free_slots: int, policy: Policy, queue_max_walltime_min: int | None) -> list[Ensemble]:
    """Ensembles for `pending` short members, at most `free_slots` of them (the rest stay pending).
    GPU members (on a site with GPUs) and the others are packed apart."""
    gpu = [m for m in pending if policy.uses_gpus(m)]
    cpu = [m for m in pending if not policy.uses_gpus(m)]
    planned = _plan(gpu, free_slots, policy, queue_max_walltime_min, gpu=True) if gpu else []
    return planned + (_plan(cpu, free_slots - len(planned), policy, queue_max_walltime_min) if cpu else [])


def _plan(pending: list, free_slots: int, policy: Policy, queue_max_walltime_min: int | None,
          gpu: bool = False) -> list[Ensemble]:
    """Members are taken longest first, so layers are tight; an ensemble grows while its padded
    honest walltime stays within min(policy, queue) and it has at most max_members; then a new one
    starts. Layers fit the cores (CPU members) or the GPU slots (GPU members)."""
    if free_slots <= 0 or not pending:
        return []
    limit = policy.max_walltime_min
    if queue_max_walltime_min:
        limit = min(limit, queue_max_walltime_min)
    if gpu:
        capacity, weight = policy.nodes * policy.slots_per_node, policy.gpu_weight
    else:
        capacity, weight = policy.capacity, cores_of
    ordered = sorted(pending, key=lambda m: (-m.runtime_min, -m.cores))
    ensembles, current = [], []
    for member in ordered:
        trial = current + [member]
        fits = (len(trial) <= policy.max_members
                and padded(honest_walltime(trial, capacity, weight)) <= limit)
        if current and not fits:
            ensembles.append(current)
            if len(ensembles) == free_slots:
                current = []
                break
            current = [member]
        else:
            current = trial
    if current and len(ensembles) < free_slots:
        ensembles.append(current)
    result = []
    for ms in ensembles:
        walltime = padded(honest_walltime(ms, capacity, weight))
        if gpu:
            slots = cores_needed(ms, capacity, weight)
            result.append(Ensemble(tuple(ms), slots * policy.slot_cores, walltime, slots))
        else:
            result.append(Ensemble(tuple(ms), cores_needed(ms, capacity), walltime))
    return result


def gpu_slots(policy: Policy, nodes: int, reverse: bool = False) -> list[tuple]:
    """(node index, device, first core, last core) of every GPU slot of `nodes` nodes: slot k of a
    node uses GPU k // members_per_gpu (counted from the last GPU when `reverse`: Polaris pairs
    GPU 3 with cores 0-7) and the k-th share of the node's cores."""
    slots = []
    for node in range(nodes):
        for k in range(policy.slots_per_node):
            device = k // policy.members_per_gpu
            if reverse:
                device = policy.gpus_per_node - 1 - device
            first = k * policy.slot_cores
            slots.append((node, device, first, first + policy.slot_cores - 1))
    return slots
