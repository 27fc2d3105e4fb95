"""The stack's ports: each service its own, OpenBao's cluster listener included."""

import itertools
import socket

from portal.devstack import processes
from portal.devstack.stack import Ports


def test_openbaos_cluster_port_is_never_handed_to_another_service(monkeypatch):
    # OpenBao's dev server listens on its port and the next: a service given that next port could not start
    # (a full run once failed so, the OpenID provider on OpenBao's cluster port).
    monkeypatch.setattr(processes, "_chosen_ports", set())
    picks = itertools.chain([21000, 21010, 21020, 21021, 21030], itertools.count(21100))
    monkeypatch.setattr(processes.random, "randint", lambda low, high: next(picks))
    monkeypatch.setattr(processes, "port_in_use", lambda port: False)

    ports = Ports.free()

    assert ports.vault == 21020
    assert ports.vault + 1 not in (ports.postgres, ports.redis, ports.oidc, ports.web)
    assert (ports.oidc, ports.web) == (21030, 21100)


def test_several_ports_are_free_and_handed_out_together(monkeypatch):
    monkeypatch.setattr(processes, "_chosen_ports", set())
    busy = {22001}
    picks = iter([22000, 22005, 22006])
    monkeypatch.setattr(processes.random, "randint", lambda low, high: next(picks))
    monkeypatch.setattr(processes, "port_in_use", lambda port: port in busy)

    # 22000's next port is busy: the pair starts at 22005.
    assert processes.free_port(2) == 22005
    assert {22005, 22006} <= processes._chosen_ports
    # Neither is handed out again.
    picks = iter([22006, 22005, 22010])
    assert processes.free_port() == 22010


def test_a_taken_cluster_port_of_openbao_is_named_before_the_stack_starts():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        cluster = held.getsockname()[1]
        ports = Ports(postgres=1, redis=1, vault=cluster - 1, oidc=1, web=1)
        assert ports.listening()["vault cluster"] == cluster
        assert f"vault cluster port {cluster}" in ports.taken()
