"""Each simulated market's pricing locations: its real hubs, zones and interfaces, then synthetic nodes.

The synthetic nodes follow the market's naming style (MISO `LBA.STATIONn`, CAISO `STATION_d_UNITn`, PJM
`STATION kV KV UNITn`, ...). The network (names, technologies, parents) is the same for every seed: a seed
changes the weather and the prices, not the map, so instruments from two simulations can share a store.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from marketintel.simulate.models import rng

NETWORK_SEED = 254  # fixed: the map does not depend on the simulation's seed


@dataclass(frozen=True)
class Location:
    name: str
    location_type: str  # "hub", "zone", "node" or "interface"
    parent: str | None = None  # the hub (or zone) whose price this location's basis is measured against
    description: str | None = None
    tech: str = "load"  # "wind", "solar", "thermal" or "load": what sits at the bus, drives its basis
    wind: float = 0.0  # exposure of a real location to local wind curtailment (0 none .. ~1.5 strong)
    solar: float = 0.0
    average_of: tuple[str, ...] = ()  # a hub published as the mean of other hubs (ERCOT HB_HUBAVG)


def _hub(name: str, description: str, *, wind: float = 0.0, solar: float = 0.0) -> Location:
    return Location(name, "hub", None, description, wind=wind, solar=solar)


def _zone(
    name: str, parent: str | None, description: str, *, wind: float = 0.0, solar: float = 0.0
) -> Location:
    return Location(name, "zone", parent, description, wind=wind, solar=solar)


def _interface(name: str, description: str) -> Location:
    return Location(name, "interface", None, description)


_ERCOT_AVG = ("HB_NORTH", "HB_SOUTH", "HB_WEST", "HB_HOUSTON")
_PJM_ZONES = {
    "AECO": "NEW JERSEY HUB",
    "AEP": "AEP-DAYTON HUB",
    "APS": "WESTERN HUB",
    "ATSI": "OHIO HUB",
    "BGE": "WESTERN HUB",
    "COMED": "N ILLINOIS HUB",
    "DAY": "AEP-DAYTON HUB",
    "DEOK": "OHIO HUB",
    "DOM": "DOMINION HUB",
    "DPL": "EASTERN HUB",
    "DUQ": "WESTERN HUB",
    "EKPC": "AEP-DAYTON HUB",
    "JCPL": "NEW JERSEY HUB",
    "METED": "WESTERN HUB",
    "OVEC": "OHIO HUB",
    "PECO": "EASTERN HUB",
    "PENELEC": "WESTERN HUB",
    "PEPCO": "WESTERN HUB",
    "PPL": "WESTERN HUB",
    "PSEG": "NEW JERSEY HUB",
    "RECO": "NEW JERSEY HUB",
}
_NYISO_ZONES = {
    "WEST": "A",
    "GENESE": "B",
    "CENTRL": "C",
    "NORTH": "D",
    "MHK VL": "E",
    "CAPITL": "F",
    "HUD VL": "G",
    "MILLWD": "H",
    "DUNWOD": "I",
    "N.Y.C.": "J",
    "LONGIL": "K",
}
_ISONE_ZONES = {
    ".Z.MAINE": "Maine",
    ".Z.NEWHAMPSHIRE": "New Hampshire",
    ".Z.VERMONT": "Vermont",
    ".Z.CONNECTICUT": "Connecticut",
    ".Z.RHODEISLAND": "Rhode Island",
    ".Z.SEMASS": "Southeast Massachusetts",
    ".Z.WCMASS": "West/Central Massachusetts",
    ".Z.NEMASSBOST": "Northeast Massachusetts/Boston",
}

REAL_LOCATIONS: dict[str, tuple[Location, ...]] = {
    "MISO": (
        _hub("INDIANA.HUB", "MISO Indiana Hub"),
        _hub("ILLINOIS.HUB", "MISO Illinois Hub"),
        _hub("MICHIGAN.HUB", "MISO Michigan Hub"),
        _hub("MINN.HUB", "MISO Minnesota Hub", wind=0.6),
        _hub("ARKANSAS.HUB", "MISO Arkansas Hub"),
        _hub("LOUISIANA.HUB", "MISO Louisiana Hub"),
        _hub("TEXAS.HUB", "MISO Texas Hub"),
        _hub("MS.HUB", "MISO Mississippi Hub"),
    ),
    "CAISO": (
        _hub("TH_NP15_GEN-APND", "CAISO NP15 trading hub"),
        _hub("TH_SP15_GEN-APND", "CAISO SP15 trading hub", solar=0.3),
        _hub("TH_ZP26_GEN-APND", "CAISO ZP26 trading hub", solar=0.5),
        _zone("DLAP_PGAE-APND", "TH_NP15_GEN-APND", "PG&E default load aggregation point"),
        _zone("DLAP_SCE-APND", "TH_SP15_GEN-APND", "SCE default load aggregation point"),
        _zone("DLAP_SDGE-APND", "TH_SP15_GEN-APND", "SDG&E default load aggregation point"),
        _zone("DLAP_VEA-APND", "TH_SP15_GEN-APND", "VEA default load aggregation point"),
        _interface("MALIN_5_N101", "Malin 500 kV intertie"),
        _interface("PALOVRDE_ASR-APND", "Palo Verde intertie"),
    ),
    "PJM": (
        _hub("WESTERN HUB", "PJM Western Hub"),
        _hub("EASTERN HUB", "PJM Eastern Hub"),
        _hub("AEP-DAYTON HUB", "PJM AEP-Dayton Hub"),
        _hub("N ILLINOIS HUB", "PJM Northern Illinois Hub", wind=0.3),
        _hub("DOMINION HUB", "PJM Dominion Hub"),
        _hub("NEW JERSEY HUB", "PJM New Jersey Hub"),
        _hub("OHIO HUB", "PJM Ohio Hub"),
        _hub("CHICAGO HUB", "PJM Chicago Hub", wind=0.3),
        _hub("WEST INT HUB", "PJM Western Interface Hub"),
        *(_zone(z, hub, f"PJM {z} transmission zone") for z, hub in _PJM_ZONES.items()),
        _interface("MISO", "PJM-MISO interface"),
        _interface("NYIS", "PJM-NYISO interface"),
        _interface("IMO", "PJM-Ontario interface"),
        _interface("SOUTH", "PJM southern interface"),
        _interface("LINDENVFT", "Linden VFT merchant line"),
        _interface("NEPTUNE", "Neptune merchant line"),
    ),
    "ERCOT": (
        _hub("HB_NORTH", "ERCOT North Hub"),
        _hub("HB_SOUTH", "ERCOT South Hub", solar=0.2),
        _hub("HB_WEST", "ERCOT West Hub", wind=1.0, solar=0.4),
        _hub("HB_HOUSTON", "ERCOT Houston Hub"),
        _hub("HB_PAN", "ERCOT Panhandle Hub", wind=1.5),
        Location("HB_BUSAVG", "hub", None, "ERCOT bus average hub", average_of=_ERCOT_AVG),
        Location("HB_HUBAVG", "hub", None, "ERCOT hub average", average_of=_ERCOT_AVG),
        _zone("LZ_NORTH", "HB_NORTH", "ERCOT North load zone"),
        _zone("LZ_SOUTH", "HB_SOUTH", "ERCOT South load zone"),
        _zone("LZ_WEST", "HB_WEST", "ERCOT West load zone", wind=0.5),
        _zone("LZ_HOUSTON", "HB_HOUSTON", "ERCOT Houston load zone"),
        _zone("LZ_AEN", "HB_SOUTH", "Austin Energy load zone"),
        _zone("LZ_CPS", "HB_SOUTH", "CPS Energy load zone"),
        _zone("LZ_LCRA", "HB_SOUTH", "LCRA load zone"),
        _zone("LZ_RAYBN", "HB_NORTH", "Rayburn load zone"),
    ),
    "NYISO": (
        *(
            _zone(z, None, f"NYISO zone {letter}", wind=0.4 if z == "NORTH" else 0.0)
            for z, letter in _NYISO_ZONES.items()
        ),
        _interface("H Q", "Hydro-Quebec proxy bus"),
        _interface("NPX", "ISO-NE proxy bus"),
        _interface("O H", "Ontario proxy bus"),
        _interface("PJM", "PJM proxy bus"),
    ),
    "ISONE": (
        _hub(".H.INTERNAL_HUB", "ISO-NE Internal Hub"),
        *(
            _zone(z, ".H.INTERNAL_HUB", f"ISO-NE {d} load zone", wind=0.3 if z == ".Z.MAINE" else 0.0)
            for z, d in _ISONE_ZONES.items()
        ),
        _interface(".I.ROSETON 345 1", "New York (Roseton) interface"),
        _interface(".I.SALBRYNB345 1", "New Brunswick interface"),
        _interface(".I.HQ_P1_P2345 5", "Hydro-Quebec Phase I/II interface"),
        _interface(".I.HQHIGATE120 2", "Hydro-Quebec Highgate interface"),
        _interface(".I.SHOREHAM138 99", "Cross-Sound Cable interface"),
        _interface(".I.NRTHPORT138 5", "Northport-Norwalk interface"),
    ),
    "SPP": (
        _hub("SPPNORTH_HUB", "SPP North Hub", wind=0.7),
        _hub("SPPSOUTH_HUB", "SPP South Hub", wind=0.3),
    ),
}

# the hub(s) each market's forwards are quoted at
MAIN_HUBS: dict[str, tuple[str, ...]] = {
    "MISO": ("INDIANA.HUB",),
    "CAISO": ("TH_NP15_GEN-APND", "TH_SP15_GEN-APND"),
    "PJM": ("WESTERN HUB",),
    "ERCOT": ("HB_NORTH",),
    "NYISO": ("N.Y.C.",),
    "ISONE": (".H.INTERNAL_HUB",),
    "SPP": ("SPPNORTH_HUB",),
}

# synthetic nodes: (share of wind, share of solar, share of thermal); the rest are load buses
_TECH_MIX: dict[str, tuple[float, float, float]] = {
    "MISO": (0.30, 0.08, 0.30),
    "CAISO": (0.08, 0.32, 0.25),
    "PJM": (0.08, 0.08, 0.35),
    "ERCOT": (0.25, 0.18, 0.30),
    "NYISO": (0.05, 0.05, 0.40),
    "ISONE": (0.05, 0.08, 0.35),
    "SPP": (0.35, 0.05, 0.30),
}
# node prefixes (local balancing area) and the hub they sit behind, where the market's names carry one
_MISO_LBAS = {
    "CIN": "INDIANA.HUB",
    "IPL": "INDIANA.HUB",
    "NIPS": "INDIANA.HUB",
    "SIGE": "INDIANA.HUB",
    "HE": "INDIANA.HUB",
    "BREC": "INDIANA.HUB",
    "AMIL": "ILLINOIS.HUB",
    "AMMO": "ILLINOIS.HUB",
    "CWLP": "ILLINOIS.HUB",
    "CONS": "MICHIGAN.HUB",
    "DECO": "MICHIGAN.HUB",
    "NSP": "MINN.HUB",
    "OTP": "MINN.HUB",
    "GRE": "MINN.HUB",
    "MP": "MINN.HUB",
    "MDU": "MINN.HUB",
    "ALTW": "MINN.HUB",
    "MEC": "MINN.HUB",
    "WEC": "MINN.HUB",
    "WPS": "MINN.HUB",
    "ALTE": "MINN.HUB",
    "EAI": "ARKANSAS.HUB",
    "CLEC": "LOUISIANA.HUB",
    "LAGN": "LOUISIANA.HUB",
    "LEPA": "LOUISIANA.HUB",
    "EES": "TEXAS.HUB",
    "EMBA": "MS.HUB",
    "SME": "MS.HUB",
}
_SPP_AREAS = {
    "KCPL": "SPPNORTH_HUB",
    "WR": "SPPNORTH_HUB",
    "NPPD": "SPPNORTH_HUB",
    "OPPD": "SPPNORTH_HUB",
    "LES": "SPPNORTH_HUB",
    "MIDW": "SPPNORTH_HUB",
    "SECI": "SPPNORTH_HUB",
    "INDN": "SPPNORTH_HUB",
    "KACY": "SPPNORTH_HUB",
    "MPS": "SPPNORTH_HUB",
    "OKGE": "SPPSOUTH_HUB",
    "CSWS": "SPPSOUTH_HUB",
    "GRDA": "SPPSOUTH_HUB",
    "WFEC": "SPPSOUTH_HUB",
    "SPS": "SPPSOUTH_HUB",
    "SWPA": "SPPSOUTH_HUB",
    "AECC": "SPPSOUTH_HUB",
    "EDE": "SPPSOUTH_HUB",
}
_ONSETS = (
    "B",
    "BR",
    "C",
    "CH",
    "CL",
    "D",
    "F",
    "G",
    "GR",
    "H",
    "K",
    "L",
    "M",
    "N",
    "P",
    "R",
    "S",
    "ST",
    "T",
    "TR",
    "V",
    "W",
)
_VOWELS = ("A", "E", "I", "O", "U", "AI", "EA", "OO")
_CODAS = ("", "", "N", "R", "L", "S", "T", "CK", "ND", "RK")
_PJM_KV = (13, 18, 20, 22, 24, 34, 69, 115, 138, 230, 345, 500)
_ISONE_KV = ("13.8", "23", "69", "115", "345")
_SUFFIX = {  # tech -> unit code in each market's style
    "MISO": {"wind": "_WIND", "solar": "_SOLAR", "thermal": "", "load": "_LD"},
    "CAISO": {"wind": "WD", "solar": "SR", "thermal": "UNIT", "load": "N"},
    "PJM": {"wind": "WIND", "solar": "SOLAR", "thermal": "UNIT", "load": "T"},
    "ERCOT": {"wind": "WND", "solar": "SLR", "thermal": "UNIT", "load": "RN"},
    "NYISO": {"wind": "WIND_", "solar": "SOLAR_", "thermal": "", "load": "LD_"},
    "ISONE": {"wind": "WND", "solar": "SOL", "thermal": "G", "load": "LD"},
    "SPP": {"wind": "_WND", "solar": "_SLR", "thermal": "", "load": "_LD"},
}


def _stem(gen: np.random.Generator) -> str:
    syllables = int(gen.integers(2, 4))
    text = "".join(
        _ONSETS[gen.integers(len(_ONSETS))]
        + _VOWELS[gen.integers(len(_VOWELS))]
        + _CODAS[gen.integers(len(_CODAS))]
        for _ in range(syllables)
    )
    return text[: int(gen.integers(5, 9))]


def _node_name(market: str, tech: str, stem: str, area: str, gen: np.random.Generator) -> str:
    unit = int(gen.integers(1, 5))
    code = _SUFFIX[market][tech]
    if market in ("MISO", "SPP"):
        return f"{area}.{stem}{code}{unit}"
    if market == "CAISO":
        return f"{stem}_{int(gen.integers(1, 8))}_{code}{unit}"
    if market == "PJM":
        return f"{stem} {_PJM_KV[gen.integers(len(_PJM_KV))]} KV {code}{unit}"
    if market == "ERCOT":
        return f"{stem}_{code}{unit}"
    if market == "NYISO":
        return f"{stem}___{code}{unit}"
    prefix = "LD" if tech == "load" else "UN"
    return f"{prefix}.{stem}{_ISONE_KV[gen.integers(len(_ISONE_KV))]} {code}{unit}"


def _parents(market: str, real: tuple[Location, ...]) -> tuple[tuple[str, str], ...]:
    """(name prefix, parent) choices for synthetic nodes: hubs where the market has them, else zones."""
    if market == "MISO":
        return tuple(_MISO_LBAS.items())
    if market == "SPP":
        return tuple(_SPP_AREAS.items())
    if market in ("NYISO", "ISONE"):  # nodes sit behind a load zone (ISO-NE zones sit behind the hub)
        return tuple(("", loc.name) for loc in real if loc.location_type == "zone")
    return tuple(("", loc.name) for loc in real if loc.location_type == "hub" and not loc.average_of)


@lru_cache(maxsize=64)
def locations(market: str, total: int) -> tuple[Location, ...]:
    """The market's real locations followed by synthetic nodes up to `total` (never fewer than the real)."""
    real = REAL_LOCATIONS[market]
    gen = rng(NETWORK_SEED, market, "network")
    wind, solar, thermal = _TECH_MIX[market]
    choices = _parents(market, real)
    taken = {loc.name for loc in real}
    nodes: list[Location] = []
    while len(real) + len(nodes) < total:  # builds the map once per market: not a hot path
        draw = float(gen.random())
        tech = (
            "wind"
            if draw < wind
            else "solar"
            if draw < wind + solar
            else ("thermal" if draw < wind + solar + thermal else "load")
        )
        area, parent = choices[int(gen.integers(len(choices)))]
        name = _node_name(market, tech, _stem(gen), area, gen)
        if name in taken:
            continue
        taken.add(name)
        nodes.append(Location(name, "node", parent, None, tech=tech))
    return (*real, *nodes)
