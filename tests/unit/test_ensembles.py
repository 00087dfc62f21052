"""Ensemble planning: honest layered walltime, splitting at the limit, queue slots, short-job policy."""


from mdflow.executors.ensembles import Member, Policy, honest_walltime, is_short, layers, padded, plan, policy_from_site

POLICY = Policy(short_runtime_min=10, rules=("analyze",), max_walltime_min=30, max_members=100, nodes=1,
                cores_per_node=4, max_launches=1000)


def members(n, runtime=5, cores=1, rule="simulate"):
    return [Member(key=f"{rule}{i}", rule=rule, cores=cores, runtime_min=runtime) for i in range(n)]


def test_layers_fill_the_cores_and_walltime_sums_layers():
    group = members(9, runtime=5)
    assert [len(layer) for layer in layers(group, 4)] == [4, 4, 1]
    assert honest_walltime(group, 4) == 15
    mixed = [Member("a", "r", 2, 10), Member("b", "r", 2, 3), Member("c", "r", 3, 4)]
    assert honest_walltime(mixed, 4) == 10 + 4


def test_padding_for_startup():
    assert padded(5) == 6 and padded(60) == 66


def test_everything_fits_in_one_ensemble():
    [ensemble] = plan(members(8, runtime=5), free_slots=20, policy=POLICY, queue_max_walltime_min=None)
    assert len(ensemble.members) == 8 and ensemble.cores == 4 and ensemble.walltime_min == padded(10)


def test_over_long_ensemble_is_split_never_exceeding_the_limit():
    planned = plan(members(40, runtime=5), free_slots=20, policy=POLICY, queue_max_walltime_min=None)
    assert [len(e.members) for e in planned] == [20, 20]  # 5 layers of 4 × 5 min = 25 (+3) <= 30
    assert all(e.walltime_min <= 30 for e in planned)
    tighter = plan(members(40, runtime=5), free_slots=20, policy=POLICY, queue_max_walltime_min=12)
    assert all(e.walltime_min <= 12 for e in tighter) and sum(len(e.members) for e in tighter) == 40
    assert [len(e.members) for e in tighter] == [8] * 5


def test_free_slots_cap_the_number_of_ensembles():
    planned = plan(members(40, runtime=5), free_slots=1, policy=POLICY, queue_max_walltime_min=None)
    assert len(planned) == 1 and len(planned[0].members) == 20
    assert plan(members(5), free_slots=0, policy=POLICY, queue_max_walltime_min=None) == []


def test_max_members():
    policy = Policy(**{**POLICY.__dict__, "max_members": 3})
    assert [len(e.members) for e in plan(members(7, runtime=1), 10, policy, None)] == [3, 3, 1]


def test_short_job_policy():
    assert is_short(POLICY, "simulate", 10, 1) and not is_short(POLICY, "simulate", 11, 1)
    assert is_short(POLICY, "analyze", 500, 1)          # rule opt-in
    assert not is_short(POLICY, "simulate", 5, 8)       # more cores than an ensemble has
    assert not is_short(None, "simulate", 1, 1)         # no policy: nothing is packed


def test_policy_from_site():
    site = {"cores_per_node": 64, "ensemble": {"short_runtime": "00:20:00", "max_walltime": "01:00:00", "nodes": 2}}
    policy = policy_from_site(site)
    assert (policy.short_runtime_min, policy.max_walltime_min, policy.capacity) == (20, 60, 128)
    assert policy_from_site({}) is None


GPU_POLICY = Policy(short_runtime_min=30, rules=("simulate",), max_walltime_min=600, max_members=100, nodes=2,
                    cores_per_node=32, max_launches=1000, gpus_per_node=4, members_per_gpu=1)


def gpu_members(n, runtime=60):
    return [Member(key=f"sim{i}", rule="simulate", cores=1, runtime_min=runtime, gpus=1) for i in range(n)]


def test_gpu_members_fill_gpu_slots_not_cores_and_pack_apart_from_cpu_members():
    planned = plan(gpu_members(6) + members(3, runtime=5), free_slots=5, policy=GPU_POLICY, queue_max_walltime_min=None)
    gpu, cpu = planned
    assert gpu.slots == 6 and gpu.walltime_min == padded(60) and gpu.cores == 6 * 8  # one layer: 8 slots on 2 nodes
    assert cpu.slots == 0 and len(cpu.members) == 3
    [busy] = plan(gpu_members(10), free_slots=5, policy=GPU_POLICY, queue_max_walltime_min=None)
    assert busy.slots == 8 and busy.walltime_min == padded(120)  # 10 members on 8 GPUs: two layers
    shared = Policy(**{**GPU_POLICY.__dict__, "members_per_gpu": 2, "nodes": 1})
    [two_per_gpu] = plan(gpu_members(8), free_slots=5, policy=shared, queue_max_walltime_min=None)
    assert two_per_gpu.slots == 8 and two_per_gpu.walltime_min == padded(60)
    assert not is_short(GPU_POLICY, "simulate", 60, 1, gpus=2)  # a slot has one device: such a job goes alone


def test_gpu_slots_give_each_member_its_own_device_and_cores():
    from mdflow.executors.ensembles import gpu_slots

    assert gpu_slots(GPU_POLICY, 1) == [(0, 0, 0, 7), (0, 1, 8, 15), (0, 2, 16, 23), (0, 3, 24, 31)]
    assert [s[1] for s in gpu_slots(GPU_POLICY, 1, reverse=True)] == [3, 2, 1, 0]  # Polaris: GPU 3 <-> cores 0-7
    assert [s[0] for s in gpu_slots(GPU_POLICY, 2)] == [0] * 4 + [1] * 4
    shared = Policy(**{**GPU_POLICY.__dict__, "members_per_gpu": 2, "nodes": 1})
    assert [(d, f, l) for _, d, f, l in gpu_slots(shared, 1)][:3] == [(0, 0, 3), (0, 4, 7), (1, 8, 11)]


def test_gpu_launch_binds_device_and_cores_per_launcher():
    from mdflow.executors.batch import gpu_launch

    polaris = gpu_launch("mpiexec", 1, 3, 0, 7, 1, "python -m snakemake x")
    assert polaris == ('mpiexec -n 1 --ppn 1 --hosts "$(sed -n 2p "$PBS_NODEFILE")" --cpu-bind list:0-7 '
                       "env CUDA_VISIBLE_DEVICES=3 bash -c 'python -m snakemake x'")
    slurm = gpu_launch("srun", 0, 1, 8, 15, 1, "cmd")
    assert slurm == "srun --nodes=1 --ntasks=1 --relative=0 --cpus-per-task=8 --gpus-per-task=1 --exact bash -c cmd"
    assert "CUDA_VISIBLE_DEVICES=1" in gpu_launch("srun", 0, 1, 8, 15, 2, "cmd")  # shared GPUs: Slurm cannot bind them
    assert gpu_launch("local", 0, 2, 16, 23, 1, "cmd") == "env CUDA_VISIBLE_DEVICES=2 taskset -c 16-23 bash -c cmd"
