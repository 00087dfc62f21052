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

    @property
    def capacity(self) -> int:
        return self.nodes * self.cores_per_node


@dataclass(frozen=True)
class Ensemble:
    members: tuple
    cores: int
    walltime_min: int


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
    )


def is_short(policy: Policy | None, rule: str, runtime_min: int, cores: int) -> bool:
    if policy is None or cores > policy.capacity:
        return False
    if rule in policy.rules:
        return True
    return policy.short_runtime_min is not None and runtime_min <= policy.short_runtime_min


def padded(walltime_min: int) -> int:
    return walltime_min + max(1, math.ceil(walltime_min * 0.1))


def layers(members, capacity: int) -> list[list]:
    """Consecutive members grouped into layers whose cores fit `capacity`."""
    result, current, used = [], [], 0
    for member in members:
        if current and used + member.cores > capacity:
            result.append(current)
            current, used = [], 0
        current.append(member)
        used += member.cores
    if current:
        result.append(current)
    return result


def honest_walltime(members, capacity: int) -> int:
    return sum(max(m.runtime_min for m in layer) for layer in layers(members, capacity))


def nodes_needed(ensemble: "Ensemble", policy: Policy) -> int:
    """Nodes the ensemble's widest layer needs, at most the policy's."""
    return min(policy.nodes, max(1, math.ceil(ensemble.cores / max(1, policy.cores_per_node))))


def cores_needed(members, capacity: int) -> int:
    return max(sum(m.cores for m in layer) for layer in layers(members, capacity))


def plan(pending: list, free_slots: int, policy: Policy, queue_max_walltime_min: int | None) -> list[Ensemble]:
    """Ensembles for `pending` short members, at most `free_slots` of them (the rest stay pending).

    Members are taken longest first, so layers are tight; an ensemble grows while its padded honest
    walltime stays within min(policy, queue) and it has at most max_members; then a new one starts.
    """
    if free_slots <= 0 or not pending:
        return []
    limit = policy.max_walltime_min
    if queue_max_walltime_min:
        limit = min(limit, queue_max_walltime_min)
    ordered = sorted(pending, key=lambda m: (-m.runtime_min, -m.cores))
    ensembles, current = [], []
    for member in ordered:
        trial = current + [member]
        fits = (len(trial) <= policy.max_members
                and padded(honest_walltime(trial, policy.capacity)) <= limit)
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
    return [Ensemble(tuple(ms), cores_needed(ms, policy.capacity), padded(honest_walltime(ms, policy.capacity)))
            for ms in ensembles]
