"""The Java jar's users get grpc and protobuf, and nothing the conformance suite needs.

The conformance thin client lives in sdk/java's test sources; its JSON libraries
(protobuf-java-util, gson) are test-scoped. A runtime dependency added to the pom, or test
code moved back under src/main, fails here before it reaches a user's classpath.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JAVA = ROOT / "sdk" / "java"
NS = {"m": "http://maven.apache.org/POM/4.0.0"}
RUNTIME = {
    ("io.grpc", "grpc-netty-shaded"),
    ("io.grpc", "grpc-protobuf"),
    ("io.grpc", "grpc-stub"),
    ("com.google.protobuf", "protobuf-java"),
}


def _dependencies() -> list[tuple[str, str, str]]:
    pom = ET.parse(JAVA / "pom.xml").getroot()
    return [
        (d.findtext("m:groupId", "", NS), d.findtext("m:artifactId", "", NS),
         d.findtext("m:scope", "compile", NS))
        for d in pom.findall("m:dependencies/m:dependency", NS)
    ]


def test_runtime_dependencies_are_grpc_and_protobuf_only() -> None:
    runtime = {(g, a) for g, a, scope in _dependencies() if scope not in ("test", "provided")}
    assert runtime == RUNTIME


def test_conformance_json_libraries_are_test_scoped() -> None:
    scopes = {a: scope for _, a, scope in _dependencies()}
    assert (scopes["protobuf-java-util"], scopes["gson"]) == ("test", "test")


def test_no_conformance_code_in_the_main_sources() -> None:
    main = JAVA / "src" / "main" / "java"
    assert [p.relative_to(JAVA) for p in main.rglob("*.java") if "conformance" in p.parts] == []
    assert (JAVA / "src/test/java/dev/neuralheatmap/conformance/ThinClient.java").exists()
