"""Building ADT messages for tests, and a small blocking MLLP client."""

from __future__ import annotations

import itertools
import socket

_ids = itertools.count(1)
SB, EB, CR = b"\x0b", b"\x1c", b"\r"


def adt(event: str = "A01", *, control: str | None = None, mrn: str = "H100", authority: str = "HOSP",
        family: str = "Doe", given: str = "Jane", dob: str = "19500101", sex: str = "F", visit: str = "V1",
        pclass: str = "I", when: str = "20261101080000", admit: str = "", discharge: str = "",
        receiving: str = "CARELOOP", sending: str = "GENHOSP", version: str = "2.5.1", disposition: str = "",
        mrg: str = "", pv1: bool = True, dg1: str = "", message_type: str = "ADT") -> str:
    """An ADT message with CR separators; every argument maps to the field it names."""
    control = control or f"C{next(_ids):07d}"
    segments = [
        f"MSH|^~\\&|HIS|{sending}|CL|{receiving}|{when}||{message_type}^{event}|{control}|P|{version}",
        f"EVN|{event}|{when}",
        f"PID|1||{mrn}^^^{authority}^MR||{family}^{given}||{dob}|{sex}|||1 Main St^^Springfield^IL^62701||"
        f"(217) 555-0100",
    ]
    if mrg:
        segments.append(f"MRG|{mrg}^^^{authority}^MR")
    if pv1:
        pv1_fields = [""] * 46
        pv1_fields[0:4] = ["PV1", "1", pclass, "4E^401^B^GENHOSP"]
        pv1_fields[7] = "1234^House^Greg"
        pv1_fields[19] = visit
        pv1_fields[36] = disposition
        pv1_fields[44] = admit
        pv1_fields[45] = discharge
        segments.append("|".join(pv1_fields))
    if dg1:
        segments.append(f"DG1|1||{dg1}|||A")
    return "\r".join(segments)


def frame(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return SB + data + EB + CR


def ack_fields(ack: str) -> dict[str, list[str]]:
    """Segments of an ACK by name -> fields (fields[1] is field 1)."""
    return {line.split("|")[0]: line.split("|") for line in ack.strip("\r").split("\r")}


class Client:
    """A blocking MLLP client for tests (loopback only)."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, text: str | bytes) -> str:
        self.send_raw(frame(text))
        return self.read_ack()

    def read_ack(self) -> str:
        while EB + CR not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        block, _, self.buffer = self.buffer.partition(EB + CR)
        assert block[:1] == SB
        return block[1:].decode()

    def close(self) -> None:
        self.sock.close()


def oru(*groups: tuple[str, str, list[str]], control: str | None = None, mrn: str = "H100",
        authority: str = "HOSP", receiving: str = "CARELOOP", when: str = "20261101080000", orc: bool = True) -> str:
    """An ORU^R01 result message: groups of (placer number, OBR-25 status, OBX lines after "OBX|n|")."""
    control = control or f"R{next(_ids):07d}"
    segments = [f"MSH|^~\\&|LIS|CITYLAB|CL|{receiving}|{when}||ORU^R01^ORU_R01|{control}|P|2.5.1",
                f"PID|1||{mrn}^^^{authority}^MR||Doe^Jane||19500101|F"]
    for placer, status, observations in groups:
        if orc:
            segments.append(f"ORC|RE|{placer}^CL|F-{placer}^CITYLAB")
        obr = [""] * 26
        obr[0:5] = ["OBR", "1", placer, f"F-{placer}", "2823-3^Potassium^LN"]
        obr[7], obr[25] = when, status
        segments.append("|".join(obr))
        segments += [f"OBX|{n}|{line}" for n, line in enumerate(observations, 1)]
    return "\r".join(segments)


def obx(code: str = "2823-3", value: str = "4.1", flag: str = "N", *, kind: str = "NM", name: str = "Potassium",
        status: str = "F", unit: str = "mmol/L", rng: str = "3.5-5.1", observed: str = "") -> str:
    """OBX-2 onwards of one observation (the builder numbers it)."""
    return f"{kind}|{code}^{name}^LN||{value}|{unit}|{rng}|{flag}|||{status}|||{observed}"
