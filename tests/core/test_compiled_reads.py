"""A compiled read answers as the ORM does, for any values, in one query, compiled once per process."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from portal.accounts.models import Profile
from portal.core.db import Compiled

pytestmark = pytest.mark.django_db


def profile_read() -> Compiled:
    return Compiled(
        lambda tid, oid: Profile.objects.select_related("user").filter(tid=tid, oid=oid)[:1], tid=str, oid=str
    )


def active_user_read() -> Compiled:
    return Compiled(
        lambda pk: get_user_model().objects.select_related("profile").filter(pk=pk, is_active=True)[:1], pk=int
    )


def fields(model) -> dict:
    return {field.attname: getattr(model, field.attname) for field in model._meta.concrete_fields}


def test_it_reads_each_person_as_the_orm_does_with_the_joined_row_in_the_same_query(alice, bob):
    read = profile_read()
    for person in (alice, bob, alice):
        expected = Profile.objects.select_related("user").get(tid=person.profile.tid, oid=person.profile.oid)

        with CaptureQueriesContext(connection) as queries:
            found = read.first(tid=person.profile.tid, oid=person.profile.oid)
            user = found.user

        assert len(queries) == 1
        assert fields(found) == fields(expected)
        assert fields(user) == fields(expected.user)
        # The fields' converters ran: the JSON lists and the aware times are Python's, not the driver's text.
        assert found.groups == expected.groups and isinstance(found.groups, list)


def test_it_is_compiled_once_however_often_it_runs(alice, bob, monkeypatch):
    read = profile_read()
    compiled = []
    as_sql = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **k: compiled.append(1) or as_sql(self, *a, **k))

    for person in (alice, bob, alice, bob):
        assert read.first(tid=person.profile.tid, oid=person.profile.oid).user == person

    assert len(compiled) == 1


def test_no_row_is_none_and_the_constants_of_the_query_still_hold(alice, bob):
    read = active_user_read()
    assert read.first(pk=alice.pk) == alice
    assert read.first(pk=str(bob.pk)) == bob  # a session keeps the ID as text: each value is coerced to its kind
    assert read.first(pk=alice.pk).profile.oid == alice.profile.oid

    get_user_model().objects.filter(pk=alice.pk).update(is_active=False)

    assert read.first(pk=alice.pk) is None
    assert read(pk=bob.pk) == [bob]
    assert profile_read().first(tid=alice.profile.tid, oid="no such object") is None


def test_a_value_the_sql_does_not_carry_as_given_is_refused_when_compiled(db):
    wrapped = Compiled(lambda name: Profile.objects.filter(upn__contains=name), name=str)
    with pytest.raises(ValueError, match="not parameters"):
        wrapped(name="alice")

    prefetching = Compiled(lambda pk: get_user_model().objects.prefetch_related("groups").filter(pk=pk), pk=int)
    with pytest.raises(ValueError, match="prefetch"):
        prefetching(pk=1)

    with pytest.raises(TypeError):
        profile_read()(tid="t")


def test_a_browser_session_is_read_while_it_lives_and_forgotten_after(alice, settings):
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from portal.accounts.sessions import SessionStore

    assert settings.SESSION_ENGINE == "portal.accounts.sessions"
    session = SessionStore()
    session["who"] = "alice"
    session.create()

    assert SessionStore(session.session_key).load() == {"who": "alice"}

    Session.objects.filter(session_key=session.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(session.session_key)
    assert expired.load() == {}
    assert expired.session_key is None
    assert SessionStore("no-such-session-key-of-32-chars!").load() == {}


@pytest.mark.django_db(transaction=True)
def test_a_read_that_locks_is_refused_outside_a_transaction_however_often_it_runs(alice):
    locking = Compiled(lambda pk: get_user_model().objects.select_for_update().filter(pk=pk), pk=int)
    with pytest.raises(TransactionManagementError):
        locking(pk=alice.pk)  # as the ORM refuses it: the lock would end with the read

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert locking(pk=alice.pk) == [alice]
    assert queries[0]["sql"].endswith("FOR UPDATE")

    with pytest.raises(TransactionManagementError):
        locking(pk=alice.pk)  # compiled by now, and refused all the same


def profiles_in_any_group() -> Compiled:
    return Compiled(lambda groups: Profile.objects.filter(groups__has_any_keys=groups), groups=list[str])


def test_a_list_of_strings_goes_where_the_lookup_put_its_copy(alice, bob, carol, dave, erin):
    read = profiles_in_any_group()
    everyone = [alice, bob, carol, dave, erin]
    memberships = sorted({group for person in everyone for group in person.profile.groups})
    assert len(memberships) > 1
    for groups in ([memberships[0]], memberships[:2], memberships, ["no such group"], []):
        expected = sorted(Profile.objects.filter(groups__has_any_keys=groups).values_list("pk", flat=True))

        assert sorted(profile.pk for profile in read(groups=groups)) == expected
        assert read.count(groups=groups) == len(expected)

    with pytest.raises(TypeError, match="list\\[str\\]"):
        Compiled(lambda groups: Profile.objects.filter(groups__has_any_keys=groups), groups=tuple)(groups=())


def test_a_compiled_count_is_the_querysets_in_one_query_compiled_once(alice, bob, monkeypatch):
    starts = (0, alice.pk, bob.pk, bob.pk + 1, alice.pk)
    expected = [get_user_model().objects.filter(pk__gte=pk).count() for pk in starts]
    users = Compiled(lambda pk: get_user_model().objects.select_related("profile").filter(pk__gte=pk), pk=int)
    compiled = []
    as_sql = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **k: compiled.append(1) or as_sql(self, *a, **k))

    with CaptureQueriesContext(connection) as queries:
        counts = [users.count(pk=pk) for pk in starts]

    assert counts == expected
    assert counts[0] >= 2 and counts[3] == 0
    assert len(queries) == 5 and all(query["sql"].startswith("SELECT COUNT(*)") for query in queries)
    assert len(compiled) == 1
    # A read sliced counts its slice, as the queryset's count() does.
    assert active_user_read().count(pk=alice.pk) == 1

    locking = Compiled(lambda pk: get_user_model().objects.select_for_update().filter(pk=pk), pk=int)
    with pytest.raises(ValueError, match="does not lock"):
        locking.count(pk=alice.pk)
