"""Reliability of the file format: run folders bound to their run, bfloat16, checked arguments,
concurrent writers, and a loader that refuses (ValueError) or loads exactly what a file says."""

import importlib.util
import io
import json
import os
import shutil
import tempfile
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import izhijax as izj
from izhijax._src import io as izio

RECORD = dict(record_v=[0, 3], record_u=[1])


@pytest.fixture(scope="module")
def small():
    return izj.izhikevich2003(jax.random.key(5), n_exc=16, n_inh=4, dtype=jnp.float64)


def _bits(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    x = np.asarray(x)
    return x.dtype, x.shape, np.ascontiguousarray(x).tobytes()


def _assert_bits_equal(a, b):
    """Same pytree structure (static fields included) and every leaf bit for bit, same dtype."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    assert ta == tb
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        assert _bits(x) == _bits(y)


def _arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _reseal(path, arrays, meta=None):
    """Write ``arrays`` (and ``meta``, a dict) as a crafted file with a valid checksum."""
    arrays = dict(arrays)
    if meta is not None:
        arrays["meta"] = np.array(json.dumps(meta))
    arrays["checksum"] = np.array(izio._checksum(arrays))
    np.savez(path, **arrays)


# --- 1, 2: a run folder's chunks are bound to its header --------------------------------------


def test_folder_whose_header_was_deleted_is_refused_and_not_taken_over(small, tmp_path):
    folder = str(tmp_path / "run")
    izj.simulate_to_disk(small, jax.random.key(6), 120, folder, chunk_size=40, **RECORD)
    os.remove(os.path.join(folder, "run.npz"))
    chunks = sorted(os.listdir(folder))
    assert chunks == ["chunk_000000.npz", "chunk_000001.npz", "chunk_000002.npz"]
    before = {name: open(os.path.join(folder, name), "rb").read() for name in chunks}
    message = r"holds chunks of a run whose header run\.npz is missing .*use another folder"
    for key in (jax.random.key(7), jax.random.key(6)):       # another run, or the same again
        with pytest.raises(ValueError, match=message):
            izj.simulate_to_disk(small, key, 120, folder, chunk_size=40, **RECORD)
    with pytest.raises(ValueError, match=message):
        izj.load(folder)
    assert sorted(os.listdir(folder)) == chunks                 # no header written over them
    assert all(open(os.path.join(folder, n), "rb").read() == before[n] for n in chunks)


def test_chunk_of_another_run_with_the_same_chunking_is_refused(small, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    _, rec_a = izj.simulate_to_disk(small, jax.random.key(6), 120, a, chunk_size=40, **RECORD)
    _, rec_b = izj.simulate_to_disk(small, jax.random.key(7), 120, b, chunk_size=40, **RECORD)
    assert not np.array_equal(rec_a.spikes[40:80], rec_b.spikes[40:80])
    info = izj.load(os.path.join(a, "chunk_000001.npz")).info
    assert info["chunk"] == 1 and info["start"] == 40 and info["length"] == 40
    assert info["run_id"] == izj.load(a).info["run_id"] != izj.load(b).info["run_id"]

    shutil.copy(os.path.join(b, "chunk_000001.npz"), os.path.join(a, "chunk_000001.npz"))
    message = r"chunk_000001\.npz is a chunk of another run \(run_id [0-9a-f]{32}"
    with pytest.raises(ValueError, match=message):
        izj.load(a)
    with pytest.raises(ValueError, match=message):
        izj.simulate_to_disk(small, jax.random.key(6), 120, a, chunk_size=40, **RECORD)

    shutil.copy(os.path.join(a, "chunk_000000.npz"), os.path.join(a, "chunk_000001.npz"))
    with pytest.raises(ValueError, match=r"chunk_000001\.npz is chunk 0 of its run, starting at "
                                         r"step 0 with 40 steps; expected chunk 1 at step 40"):
        izj.load(a)
    os.remove(os.path.join(a, "chunk_000001.npz"))
    with pytest.raises(ValueError, match=r"chunk_000001\.npz is missing but later chunks exist"):
        izj.load(a)


def test_chunk_whose_steps_disagree_with_its_info_is_refused(small, tmp_path):
    """A chunk bound to its run whose recording or state is not at the steps its info says."""
    folder = str(tmp_path / "run")
    izj.simulate_to_disk(small, jax.random.key(6), 80, folder, chunk_size=40, **RECORD)
    path = os.path.join(folder, "chunk_000001.npz")
    chunk = izj.load(path)
    izj.save(path, recording=chunk.recording, state=chunk.state.replace(t=np.int32(81)),
             info=chunk.info)
    with pytest.raises(ValueError, match=r"chunk_000001\.npz: its recording covers steps 40 to 80 "
                                         r"and its state is at step 81"):
        izj.load(folder)


def test_version_3_files_and_folders_still_load(small, tmp_path):
    """Files of format version 3 (no ``dtypes``) load; a folder of an older izhijax (no run_id,
    chunks without identity) loads, still checked step by step, and is not resumed."""
    folder = str(tmp_path / "run")
    _, rec = izj.simulate_to_disk(small, jax.random.key(6), 100, folder, chunk_size=40, **RECORD)

    def as_version_3(path, info):
        arrays = _arrays(path)
        meta = json.loads(str(arrays["meta"]))
        assert meta.pop("dtypes") == {} and meta["format_version"] == 4
        _reseal(path, arrays, dict(meta, format_version=3, info=info))

    header = izj.load(os.path.join(folder, "run.npz"))
    as_version_3(os.path.join(folder, "run.npz"),
                 {k: v for k, v in header.info.items() if k != "run_id"})
    for i in range(3):
        as_version_3(os.path.join(folder, f"chunk_00000{i}.npz"), None)
    old = izj.load(folder)
    _assert_bits_equal(rec, old.recording)
    assert "run_id" not in old.info
    with pytest.raises(ValueError, match=r"run\.npz was written by an older izhijax"):
        izj.simulate_to_disk(small, jax.random.key(6), 100, folder, chunk_size=40, **RECORD)
    shutil.copy(os.path.join(folder, "chunk_000000.npz"), os.path.join(folder, "chunk_000001.npz"))
    with pytest.raises(ValueError, match=r"chunk_000001\.npz: its recording covers steps 0 to 40"):
        izj.load(folder)


# --- 3: bfloat16 and float16 ------------------------------------------------------------------


def _cast(tree, dtype):
    return jax.tree_util.tree_map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_networks_round_trip_bit_for_bit_and_simulate_alike(small, dtype, tmp_path):
    net = _cast(izj.izhikevich2003(jax.random.key(5), n_exc=16, n_inh=4, dtype=jnp.float32),
                dtype)
    flat = izj.make_params(jnp.full(6, 0.02, dtype), jnp.full(6, 0.2, dtype), -65.0, 8.0,
                           jnp.linspace(0, 1, 36, dtype=dtype).reshape(6, 6), dtype=dtype)
    key = jax.random.key(3)
    state, rec = izj.simulate(net, key, 60, **RECORD)
    assert net.dtype == dtype and state.v.dtype == dtype
    path = izj.save(tmp_path / "half", params=net, state=state, recording=rec, key=key)
    saved = izj.load(path)
    _assert_bits_equal((net, state, rec), (saved.params, saved.state, saved.recording))
    assert saved.params.dtype == dtype and saved.state.v.dtype == dtype
    izj.save(tmp_path / "flat", params=flat)
    _assert_bits_equal(flat, izj.load(tmp_path / "flat.npz").params)
    # the loaded network runs exactly as the original, from the start and from the saved state
    _assert_bits_equal(izj.simulate(net, key, 60, **RECORD),
                       izj.simulate(saved.params, saved.key, 60, **RECORD))
    _assert_bits_equal(izj.simulate(net, key, 30, state=state, **RECORD),
                       izj.simulate(saved.params, saved.key, 30, state=saved.state, **RECORD))
    assert np.asarray(rec.spikes).sum() > 0
    if dtype == jnp.bfloat16:
        meta = json.loads(str(_arrays(path)["meta"]))
        assert meta["dtypes"]["network.pop0.noise_amp"] == "bfloat16"
        assert _arrays(path)["network.pop0.noise_amp"].dtype == np.uint16


def test_load_refuses_other_dtypes_naming_the_array(small, tmp_path):
    path = izj.save(tmp_path / "net", params=small)
    base = _arrays(path)
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = np.empty(2, object)
    payload[:] = [Payload(), Payload()]
    cases = {
        r"<c16\[16\]": base["network.pop0.bias"].astype(np.complex128),
        r"\[\('a', '<f8'\)\]": np.zeros(16, [("a", "<f8")]),
        r"\|O\[2\]": payload,
        r"<M8\[ns\]": np.zeros(16, "M8[ns]"),
        r"\|V2\[16\]": np.zeros(16, "V2"),
        r">f8\[16\]": base["network.pop0.bias"].astype(">f8"),
    }
    for what, array in cases.items():
        arrays = dict(base, **{"network.pop0.bias": array})
        arrays["checksum"] = np.array(izio._checksum({k: v for k, v in arrays.items()
                                                      if not v.dtype.hasobject}))
        np.savez(path, **arrays)
        with pytest.raises(ValueError, match=rf"the array 'network\.pop0\.bias' has the dtype "
                                             rf"{what}, which izhijax does not store"):
            izj.load(path)
    assert not marker.exists()
    meta = json.loads(str(base["meta"]))
    for name, code in (("network.pop0.bias", "float8_e4m3fn"), ("network.pop0.bias", "object"),
                       ("network.pop0.bias", "bfloat16")):
        _reseal(path, base, dict(meta, dtypes={name: code}))
        with pytest.raises(ValueError, match=r"network\.pop0\.bias"):
            izj.load(path)


# --- 4: save checks its arguments first -------------------------------------------------------


def test_save_checks_every_argument_before_writing(small, tmp_path):
    path = tmp_path / "x.npz"
    bad = small.replace(populations=(small.populations[0].replace(
        bias=jnp.zeros(16, jnp.float8_e4m3fn)),) + small.populations[1:])
    cases = [
        (dict(params=small, key=3), TypeError, r"key must be a PRNG key .*got int 3"),
        (dict(key=np.zeros(2, np.float32)), TypeError, r"key must be a PRNG key .*float32"),
        (dict(key=jax.random.split(jax.random.key(0), 3)), ValueError,
         r"key must be a single PRNG key"),
        (dict(params={"a": 1}), TypeError, r"params must be an izhijax\.Network, got dict"),
        (dict(state=np.zeros(3)), TypeError, r"state must be an izhijax\.State, got ndarray"),
        (dict(recording={"spikes": 1}), TypeError,
         r"recording must be an izhijax\.Recording, got dict"),
        (dict(params=small, info=[1, 2]), TypeError, r"info must be a dict"),
        (dict(params=small, info={"n": np.int64(3)}), TypeError, r"info\['n'\] must be a JSON"),
        (dict(params=small, info={1: "a"}), TypeError, r"info has the key 1"),
        (dict(params=bad), TypeError,
         r"params\.populations\[0\]\.bias: its dtype float8_e4m3fn is not one of"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            izj.save(path, **kwargs)
    assert os.listdir(tmp_path) == []                 # nothing written, no temporary file


# --- a file loads only as what it says --------------------------------------------------------


@pytest.mark.slow
def test_crafted_file_that_does_not_load_as_it_says_is_refused(tmp_path):
    """Resealed files (valid checksum) whose metadata or arrays a loader would have to drop,
    change or reinterpret are refused, naming the field or array."""
    from test_io import _mixed_network
    net = _mixed_network()
    state, rec = izj.simulate(net, jax.random.key(1), 40)
    path = izj.save(tmp_path / "x", params=net, state=state, recording=rec,
                    key=jax.random.key(1))
    base = _arrays(path)
    meta = json.loads(str(base["meta"]))

    def edited(change):
        m = json.loads(json.dumps(meta))
        change(m)
        return m

    index = base["rec.spike_index"]
    cases = [
        (edited(lambda m: m["network"]["config"].update(surrogate_scale=5.0)), base,
         r"meta\.network\.config\.surrogate_scale: the file says 5\.0, which izhijax reads as"),
        (edited(lambda m: m["network"]["populations"][0]["model"].update(module="os")), base,
         r"meta\.network\.populations\[0\]\.model\.module is not something izhijax reads"),
        (edited(lambda m: m["recording"].update(diverged_at=1)), base,
         r"recording\.diverged_at must be true or false"),
        (edited(lambda m: m["recording"]["spikes"].update(shape=[10 ** 9, 10 ** 9])), base,
         r"recording\.spikes has the shape \[1000000000, 1000000000\], but"),
        (meta, dict(base, extra=np.zeros(3)),
         r"holds the array 'extra', which its metadata does not describe"),
        (meta, dict(base, **{"rec.spike_index": index[:, ::-1]}),
         r"the array 'rec\.spike_index' does not hold what izhijax writes"),
        (meta, dict(base, **{"rec.spike_index": index - index.max(axis=1, keepdims=True) - 1}),
         r"rec\.spike_index holds an index outside the raster"),
        (edited(lambda m: m.update(key_impl="os.system")), base,
         r"key_impl names the PRNG implementation 'os\.system'"),
    ]
    for m, arrays, message in cases:
        _reseal(path, arrays, m)
        with pytest.raises(ValueError, match=message):
            izj.load(path)


def test_forged_sizes_deep_nesting_and_bad_streams_are_value_errors(small, tmp_path):
    """What leaked out of the old loader as MemoryError, RecursionError or zlib.error."""
    path = izj.save(tmp_path / "x", params=small, key=jax.random.key(0))
    base = _arrays(path)
    # a header claiming 10^12 float64 over 16 of them: refused before anything is allocated
    bias = base["network.pop0.bias"]
    head = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    head += b" " * (63 - (10 + len(head)) % 64) + b"\n"
    forged = b"\x93NUMPY\x01\x00" + len(head).to_bytes(2, "little") + head + bias.tobytes()
    with zipfile.ZipFile(path, "w") as z:
        for name, array in base.items():
            buf = io.BytesIO()
            np.save(buf, array)
            z.writestr(name + ".npy", forged if name == "network.pop0.bias" else buf.getvalue())
    with pytest.raises(ValueError, match=r"'network\.pop0\.bias' has 128 bytes of data, its "
                                         r"header says \[1000000000000\]"):
        izj.load(path)
    # metadata nested 100,000 deep (checksum valid)
    text = json.dumps(dict(json.loads(str(base["meta"])), info="__DEEP__"))
    arrays = dict(base, meta=np.array(text.replace('"__DEEP__"', "[" * 100000 + "]" * 100000)))
    _reseal(path, arrays)
    with pytest.raises(ValueError, match="unreadable metadata"):
        izj.load(path)
    # a deflate stream that is not one
    izj.save(path, params=small)
    data = bytearray(open(path, "rb").read())
    start = data.index(b"network.pop0.bias.npy") + len("network.pop0.bias.npy")
    data[start + 40:start + 48] = b"\xff" * 8
    open(path, "wb").write(bytes(data))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        izj.load(path)


# --- 5: concurrent writers and a reader -------------------------------------------------------


@pytest.mark.slow
def test_concurrent_writers_and_a_reader_see_only_whole_files(tmp_path):
    import concurrent_io
    result = concurrent_io.run(seconds=3.0, writers=2, folder=str(tmp_path))
    assert result["partial_reads"] == 0, result["partial_examples"]
    assert result["writer_failures"] == 0, result["writer_errors"]
    assert result["leftover_temp_files"] == []
    assert min(result["reads_by_writer"]) >= 1 and min(result["writes_by_writer"]) >= 1
    assert result["reads"] == sum(result["reads_by_writer"]) and result["final_load_ok"]
    assert result["exit_codes"] == [0, 0, 0]


def test_file_replaced_during_a_load_is_read_whole_from_the_file_opened(small, tmp_path,
                                                                       monkeypatch):
    """A load reads everything (size, directory, members) from the one file it opened, even if
    a writer renames another file over the path meanwhile (the 20 s experiment caught a load
    that took the size of the new file and the archive of the old)."""
    other = izj.izhikevich2003(jax.random.key(9), n_exc=40, n_inh=10, dtype=jnp.float64)
    first = izj.save(tmp_path / "first", params=small, info={"which": "first"})
    second = izj.save(tmp_path / "second", params=other, info={"which": "second"})
    path = str(tmp_path / "shared.npz")
    shutil.copy(first, path)
    real = izio._read_archive

    def replaced_meanwhile(*args):
        os.replace(second, path)
        return real(*args)

    monkeypatch.setattr(izio, "_read_archive", replaced_meanwhile)
    saved = izj.load(path)
    assert saved.info == {"which": "first"}
    _assert_bits_equal(small, saved.params)
    monkeypatch.setattr(izio, "_read_archive", real)
    assert izj.load(path).info == {"which": "second"}


def test_weight_snapshots_are_written_atomically(tmp_path):
    from izhijax._src.polychronization import _atomic_npy
    w = np.arange(12.0).reshape(3, 4)
    _atomic_npy(str(tmp_path / "weights_000001.npy"), w)
    _atomic_npy(str(tmp_path / "weights_000001.npy"), w * 2)       # replaced whole
    np.testing.assert_array_equal(np.load(tmp_path / "weights_000001.npy"), w * 2)
    assert os.listdir(tmp_path) == ["weights_000001.npy"]
    assert oct(os.stat(tmp_path / "weights_000001.npy").st_mode & 0o777) == \
        oct(0o666 & ~izio._umask())


# --- 6: properties and the fuzzer --------------------------------------------------------------

FLOATS = (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64)
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


@pytest.fixture(scope="module")
def formats():
    """One float64 network (and state) per weight format."""
    w = np.random.default_rng(0).uniform(-1, 1, (6, 6)) * (np.arange(36).reshape(6, 6) % 3 > 0)
    base = izj.make_params(0.02, 0.2, -65.0, 8.0, w, dtype=jnp.float64)
    nets = {
        "dense": base,
        "PreScaled": base.replace(weights=izj.connectivity.PreScaled(jnp.asarray(w),
                                                                     jnp.linspace(0.5, 2, 6))),
        "EventDense": base.replace(weights=izj.connectivity.event_dense(jnp.asarray(w))),
        "Sparse": base.replace(weights=izj.wiring.from_dense(jnp.asarray(w))),
        "Delayed": base.replace(weights=izj.connectivity.to_delayed(w, 2)),
    }
    if importlib.util.find_spec("brainevent") is not None:      # the [brainevent] extra
        nets["CSR"] = base.replace(weights=izj.connectivity.to_csr(jnp.asarray(w)))
    plastic, _ = izj.polychronization2006(jax.random.key(0), n_exc=16, n_inh=4, synapses=6,
                                          max_delay=3)
    out = {name: (net, izj.init_state(net)) for name, net in nets.items()}
    out["plastic"] = (plastic, izj.init_state(plastic))
    assert plastic.projections[1].plasticity is not None
    assert "w" in out["plastic"][1].synapses[1]
    return out


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["dense", "PreScaled", "EventDense", "Sparse", "Delayed", "plastic"]
                          + (["CSR"] if importlib.util.find_spec("brainevent") else [])),
       dtype=st.sampled_from(FLOATS), data=st.data())
def test_every_float_dtype_and_weight_format_round_trips_bit_for_bit(formats, fmt, dtype, data):
    """Any bit pattern (NaN payloads, infinities, -0.0, subnormals) in any floating leaf of a
    network and its state, of any float dtype and weight format, comes back bit for bit."""
    net, state = formats[fmt]
    tree = jax.tree_util.tree_map(np.asarray, _cast((net, state), dtype))
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    out = []
    for x in leaves:
        x = np.array(x)
        if x.dtype.kind in "fV" and x.size:
            raw = x.reshape(-1).view(UINT[x.dtype.itemsize])
            n = data.draw(st.integers(0, min(4, raw.size)))
            for _ in range(n):
                at = data.draw(st.integers(0, raw.size - 1))
                raw[at] = data.draw(st.integers(0, 2 ** (8 * x.dtype.itemsize) - 1))
        out.append(x)
    net2, state2 = jax.tree_util.tree_unflatten(treedef, out)
    with tempfile.TemporaryDirectory() as folder:
        saved = izj.load(izj.save(os.path.join(folder, "f"), params=net2, state=state2))
    _assert_bits_equal((net2, state2), (saved.params, saved.state))
    assert saved.params.dtype == dtype


@pytest.fixture(scope="module")
def saved_bytes(small):
    state, rec = izj.simulate(small, jax.random.key(1), 40, **RECORD)
    content = dict(params=small, state=state, recording=rec, key=jax.random.key(1),
                   info={"a": [1, 2.5]})
    with tempfile.TemporaryDirectory() as folder:
        with open(izj.save(os.path.join(folder, "x"), **content), "rb") as f:
            return f.read(), content


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                      max_size=6),
       cut=st.one_of(st.none(), st.floats(0, 1, exclude_max=True)))
def test_corrupted_or_truncated_file_is_refused_or_loads_the_original(saved_bytes, flips, cut):
    data, content = saved_bytes
    out = bytearray(data)
    for at, xor in flips:
        out[int(at * len(out))] ^= xor
    if cut is not None:
        out = out[:int(cut * len(out))]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "x.npz")
        with open(path, "wb") as f:
            f.write(bytes(out))
        try:
            saved = izj.load(path)
        except ValueError:
            return
    assert cut is None                  # a truncated file never loads
    _assert_bits_equal((content["params"], content["state"], content["recording"],
                        content["key"]),
                       (saved.params, saved.state, saved.recording, saved.key))
    assert saved.info == content["info"]


@pytest.mark.slow
def test_fuzzed_and_crafted_files_never_run_code_or_load_wrong(tmp_path):
    """300 mutations (damaged and crafted files) of five bases: refused with ValueError or
    TypeError, or loaded as the original or exactly as the crafted file says; never another
    exception, never code named by the file, never a silent wrong load."""
    import fuzz_loader
    result = fuzz_loader.run(300, seed=1, small=True)
    counts = result["counts"]
    assert counts["code_executed"] == 0, result["failures"]
    assert counts["silent_wrong"] == 0, result["failures"]
    assert counts["refused_other"] == 0, result["failures"]
    assert counts["refused"] + counts["identical"] + counts["as_crafted"] == 300
    assert counts["refused"] > 200 and counts["as_crafted"] > 0
    assert result["audited_events"] == {}
