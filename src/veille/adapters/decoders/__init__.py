"""Camera decoders, one module per camera protocol, behind the `CameraDecoder` port
(`service/ports.py`); a camera's `protocol` chooses its decoder.

Today: `veille-json` (`native_json.py`, Veille's own format). A vendor family (Hikvision
ISAPI, Dahua ITS, Axis, OpenALPR, …) joins by adding its module and listing its decoder
in `builtin_decoders`.
"""

from __future__ import annotations

from collections.abc import Iterable

from veille.adapters.decoders.native_json import NativeJsonDecoder
from veille.service.ports import CameraDecoder, UnknownProtocol


class DecoderRegistry:
    """The decoders of one server, by protocol (the `CameraDecoders` port)."""

    def __init__(self, decoders: Iterable[CameraDecoder] = ()) -> None:
        self._decoders: dict[str, CameraDecoder] = {}
        for decoder in decoders:
            self.register(decoder)

    def register(self, decoder: CameraDecoder) -> None:
        """Add a decoder; a protocol has exactly one."""
        if decoder.protocol in self._decoders:
            raise ValueError(f"protocol {decoder.protocol!r} has a decoder already")
        self._decoders[decoder.protocol] = decoder

    @property
    def protocols(self) -> frozenset[str]:
        return frozenset(self._decoders)

    def decoder_for(self, protocol: str) -> CameraDecoder:
        try:
            return self._decoders[protocol]
        except KeyError:
            raise UnknownProtocol(protocol, self._decoders) from None


def builtin_decoders() -> DecoderRegistry:
    """A registry of every decoder Veille ships."""
    return DecoderRegistry([NativeJsonDecoder()])


_BUILTIN = builtin_decoders()


def decoder_for(protocol: str) -> CameraDecoder:
    """The shipped decoder of `protocol` (a server's own registry may hold more)."""
    return _BUILTIN.decoder_for(protocol)
