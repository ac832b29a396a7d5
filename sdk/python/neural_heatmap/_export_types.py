"""What server-side exports wrote."""

from __future__ import annotations

from dataclasses import dataclass

from neural_heatmap_contract.v1 import export_pb2

from neural_heatmap._enums import ExportFormat

__all__ = ["ExportResult", "ExportedFile"]


@dataclass
class ExportedFile:
    """One file in the server's export directory."""

    name: str
    size: int

    @classmethod
    def from_proto(cls, msg: export_pb2.ExportedFile) -> ExportedFile:
        """Build from the generated message."""
        return cls(msg.name, msg.size)


@dataclass
class ExportResult:
    """What a server-side export wrote."""

    filename: str
    format: ExportFormat
    files: list[ExportedFile]
    bytes: int

    @classmethod
    def from_proto(cls, msg: export_pb2.ExportResult) -> ExportResult:
        """Build from the generated message."""
        return cls(
            filename=msg.filename,
            format=ExportFormat.from_proto(msg.format),
            files=[ExportedFile.from_proto(f) for f in msg.files],
            bytes=msg.bytes,
        )
