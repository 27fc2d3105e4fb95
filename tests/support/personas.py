"""People of the demo tenant for the tests: the one helper the benchmarks use too (`portal.devstack.personas`)."""

from portal.devstack.personas import make_person, make_user

__all__ = ["make_person", "make_user"]
