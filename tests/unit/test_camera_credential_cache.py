"""The camera credential cache: trusted while the camera version holds, looked at once per
`ttl`, and never answering from memory once the version moved."""

from __future__ import annotations

from tests.contract.builders import a_camera
from veille.domain.cameras import Camera
from veille.service.credential_cache import MAX_ENTRIES, CameraCredentialCache


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.version = 1
        self.version_reads = 0
        self.cameras: dict[str, Camera] = {"tok-a": a_camera("CAM-A")}
        self.loads: list[str] = []

    def read_version(self) -> int:
        self.version_reads += 1
        return self.version

    def load(self, token: str) -> Camera | None:
        self.loads.append(token)
        return self.cameras.get(token)


def cache_in(world: World, ttl: float = 2.0) -> CameraCredentialCache:
    return CameraCredentialCache(ttl, world.read_version, clock=lambda: world.now)


def test_a_verified_token_is_loaded_once_while_the_version_holds():
    world = World()
    cache = cache_in(world)
    for step in range(100):  # 100 reads over 300 s, one every 3 s (> ttl)
        world.now = step * 3.0
        assert cache.get("tok-a", world.load) == world.cameras["tok-a"]
    assert world.loads == ["tok-a"]
    assert world.version_reads == 100  # one look at the version per ttl, not per read
    assert cache.loads == 1


def test_peek_answers_from_memory_and_looks_at_the_version_once_per_ttl():
    world = World()
    cache = cache_in(world)
    assert cache.peek("tok-a") == (False, None)  # never verified
    cache.get("tok-a", world.load)
    assert cache.peek("tok-a") == (True, world.cameras["tok-a"])
    assert cache.peek("tok-unknown") == (False, None)
    world.now = 1.9
    assert cache.peek("tok-a")[0] is True
    assert world.version_reads == 1
    world.now = 2.0  # due: peek looks at the version itself, and it has not moved
    assert cache.peek("tok-a") == (True, world.cameras["tok-a"])
    assert world.version_reads == 2
    world.version += 1  # moved, seen at the next look: peek no longer vouches
    world.now = 4.0
    assert cache.peek("tok-a") == (False, None)
    assert world.loads == ["tok-a"]  # peek never loads a token


def test_a_change_elsewhere_applies_at_the_next_version_check():
    world = World()
    cache = cache_in(world)
    cache.get("tok-a", world.load)
    # another process revokes the token: the store's version moves
    del world.cameras["tok-a"]
    world.version += 1
    world.now = 1.0
    assert cache.get("tok-a", world.load) is not None  # within ttl: still trusted
    world.now = 2.5
    assert cache.peek("tok-a") == (False, None)  # version moved: forgotten
    assert cache.get("tok-a", world.load) is None  # looked up again
    assert world.loads == ["tok-a", "tok-a"]
    assert cache.peek("tok-a") == (True, None)  # the refusal is known too


def test_clear_forgets_at_once_and_looks_at_the_version_again():
    world = World()
    cache = cache_in(world)
    cache.get("tok-a", world.load)
    cache.clear()  # a change made in this process
    assert cache.peek("tok-a") == (False, None)
    del world.cameras["tok-a"]
    assert cache.get("tok-a", world.load) is None
    assert world.version_reads == 2


def test_a_flood_of_unknown_tokens_does_not_grow_the_cache_without_bound():
    world = World()
    cache = cache_in(world, ttl=1e9)
    for i in range(MAX_ENTRIES + 10):
        cache.get(f"made-up-{i}", world.load)
    assert len(cache) <= MAX_ENTRIES
