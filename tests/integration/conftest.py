"""pytest fixtures: a running server per test, with 1 and with 2 workers."""
import pytest

from parley import Server


@pytest.fixture(params=[1, 2], ids=["1worker", "2workers"])
def workers(request):
    return request.param


@pytest.fixture
def make_server(workers):
    """Factory: make_server(options={...}) -> a started Server, stopped (and
    checked for a clean exit) after the test."""
    made = []

    def make(options=None, start=True, **kw):
        s = Server(workers=workers, options=options, **kw)
        made.append(s)
        return s.start() if start else s

    yield make
    errors = []
    for s in made:
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def server(make_server):
    """A server with alice, bob and carol (password 'secret')."""
    s = make_server()
    for u in ("alice", "bob", "carol"):
        s.add_user(f"{u}@localhost")
    return s
