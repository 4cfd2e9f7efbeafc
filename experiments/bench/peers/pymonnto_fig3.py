"""PymoNNto driver for the bench harness: its Izhikevich example (the seed's variant: RS neurons,
dt 0.5 ms, 20 U noise, dense 0.5 U / -U weights), 2000 iterations = 1000 ms. One JSON line."""
import importlib.metadata
import json
import resource
import time

import numpy as np
from PymoNNto import Behavior, Network, NeuronGroup, Recorder, SynapseGroup, afferent, get_squared_dim


class IzhikevichMain(Behavior):
    def initialize(self, n):
        self.set_parameters_as_variables(n)
        n.I = n.vector()
        for name in ("a", "b", "c", "d"):  # scalars given as parameters -> one value per neuron
            setattr(n, name, getattr(n, name) + n.vector())
        n.v *= n.vector("uniform")
        n.u *= n.vector("uniform")
        n.fired = n.vector() > 0
        n.dt = 0.5

    def iteration(self, n):
        n.fired = n.v > 30
        if np.sum(n.fired) > 0:
            n.v[n.fired] = n.c[n.fired]
            n.u[n.fired] = n.u[n.fired] + n.d[n.fired]
        n.v += n.dt * (0.04 * n.v**2 + 5 * n.v + 140 - n.u + n.I)
        n.u += n.dt * (n.a * (n.b * n.v - n.u))


class IzhikevichInput(Behavior):
    def initialize(self, n):
        for s in n.synapses(afferent):
            s.W = s.matrix("uniform")

    def iteration(self, n):
        n.I = 20 * n.vector("uniform")
        for s in n.synapses(afferent, "GLUTAMATE"):
            n.I += 0.5 * np.sum(s.W[:, s.src.fired], axis=1)
        for s in n.synapses(afferent, "GABA"):
            n.I -= np.sum(s.W[:, s.src.fired], axis=1)


def main():

    np.random.seed(0)
    t0 = time.perf_counter()
    net = Network()
    groups = []
    for tag, size in (("excitatory_neurons", 800), ("inhibitory_neurons", 200)):
        groups.append(NeuronGroup(net=net, tag=tag, size=get_squared_dim(size), behavior={
            1: IzhikevichMain(a=0.02, b=0.2, c=-65, d=8.0, v=-65, u=-8.0), 2: IzhikevichInput(),
            9: Recorder(["fired"], tag="rec")}))
    e, i = groups
    SynapseGroup(net=net, src=e, dst=e, tag="GLUTAMATE")
    SynapseGroup(net=net, src=e, dst=i, tag="GLUTAMATE")
    SynapseGroup(net=net, src=i, dst=e, tag="GABA")
    SynapseGroup(net=net, src=i, dst=i, tag="GABA")
    net.initialize(info=False)
    t1 = time.perf_counter()
    net.simulate_iterations(2000, measure_block_time=False)
    t2 = time.perf_counter()
    fe = np.array(net["fired", 0, "np"])
    fi = np.array(net["fired", 1, "np"])
    print(json.dumps(dict(setup_s=t1 - t0, build_s=0.0, run_s=t2 - t1, spikes=int(fe.sum() + fi.sum()),
                          rate_exc=float(fe.sum() / 800), rate_inh=float(fi.sum() / 200),
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          version=importlib.metadata.version("pymonnto"))))


if __name__ == "__main__":
    main()
