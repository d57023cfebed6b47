"""The IANA time zone of a Brazilian location, from its UF (and city, for Noronha).

Brazil has four offsets. Most of the country, the whole coast included, is UTC−3
(``America/Sao_Paulo``); the western states keep their own IANA names so history (daylight
saving ended at different dates) stays right; Acre is UTC−5; Fernando de Noronha, part of
Pernambuco, is UTC−2. A location may always carry another zone explicitly."""

from __future__ import annotations

from sincro.text_pt import fold

DEFAULT_ZONE = "America/Sao_Paulo"
NORONHA = "America/Noronha"

#: UFs outside UTC−3; every other UF is ``DEFAULT_ZONE``.
ZONE_BY_STATE: dict[str, str] = {
    "AC": "America/Rio_Branco",
    "AM": "America/Manaus",
    "RR": "America/Boa_Vista",
    "RO": "America/Porto_Velho",
    "MT": "America/Cuiaba",
    "MS": "America/Campo_Grande",
}


def zone_for(state: str, city: str = "") -> str:
    """The time zone a location in ``state`` (UF) and ``city`` gets when none is given."""
    if state.upper() == "PE" and "noronha" in fold(city):
        return NORONHA
    return ZONE_BY_STATE.get(state.upper(), DEFAULT_ZONE)
