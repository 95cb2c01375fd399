"""Building-block chemistry of the synthetic library: the pieces (substituents, rings, linkers,
side chains), the enumerated amines and Fmoc amino acids, the cores, each block checked with RDKit
once (molecules are later assembled by string joins, with no per-molecule RDKit call)."""

from __future__ import annotations

SUBSTITUENTS = [
    "",
    "F",
    "Cl",
    "Br",
    "I",
    "C",
    "OC",
    "C(F)(F)F",
    "C#N",
    "S(C)(=O)=O",
    "C(=O)OC",
    "C(N)=O",
    "O",
    "N(C)C",
    "C#C",
    "C=C",
    "[N+](=O)[O-]",
    "OC(F)(F)F",
    "SC",
    "B(O)O",
]


RINGS = [
    "c2ccc({S})cc2",
    "c2cccc({S})c2",
    "c2ccccc2{S}",
    "c2ccnc({S})c2",
    "c2cncc({S})c2",
    "c2ccc({S})o2",
    "c2ccc({S})s2",
    "c2ncc({S})s2",
    "C2CCC({S})CC2",
    "c2cnn(C)c2",
    "c2ccc3c(c2)OCO3",
    "c2ccc3[nH]ccc3c2",
    "C2CC2",
    "C2CCOC2",
    "C2CCCC2",
    "C2CCN(C(=O)C)CC2",
    "C2CCN(C(=O)OC)CC2",
    "c2ccc3ccccc3c2",
    "C2CCS(=O)(=O)C2",
]


AMINE_LINKERS = ["", "C", "CC", "C(C)", "CCC"]


OTHER_LIBRARY_LINKERS = ["CCCC", "C(C)C", "CC(C)", "C(C)(C)"]  # amines only the other_core library uses


ALIPHATIC_AMINES = [
    "NCC(C)C",
    "NCCOC",
    "NCC#C",
    "NCCO",
    "NCC(F)(F)F",
    "NCCSC",
    "NCCN(C)C",
    "NC(C)(C)C",
    "NCC=C",
    "NCCC#N",
    "NCC(=O)OC",
    "NCCCO",
    "NC(C)CO",
    "NCC(C)(C)O",
]


ALKYL_SIDE_CHAINS = [
    "C",
    "CC",
    "C(C)C",
    "CC(C)C",
    "C(C)CC",
    "CCSC",
    "CO",
    "C(C)O",
    "CC#C",
    "CCC(=O)OC",
    "CC(N)=O",
    "CCCCN(C)C",
    "C2CCCCC2",
    "C2CC2",
    "CCC(F)(F)F",
    "CC=C",
    "CCCC",
]


ACID_IN_MOLECULE = "C(=O)N[Dy]"


ACID_IN_BLOCK = "C(=O)O"


FMOC = "C(=O)OCC1c2ccccc2-c2ccccc21"  # appended to BB1's amine N


BB1_TEMPLATES = ["[C@@H]({R})({A})N", "[C@H]({R})({A})N", "[C@@H]({R})(C{A})N"]


BB1_ARYL = ["c2cc({A})ccc2N", "c2ccc({A})cc2N", "c2cc({A})c({S})cc2N", "c2cc({A})cc({S})c2N"]


CORES = {
    "triazine": ("c1nc(", ")nc(", ")n1"),
    "pyrimidine": ("c1cc(", ")nc(", ")n1"),
}


def _fill(template: str, **parts: str) -> str:
    for key, value in parts.items():
        template = template.replace("({" + key + "})", f"({value})" if value else "")
        template = template.replace("{" + key + "}", value)
    return template


def _rings() -> list[str]:
    return sorted({_fill(r, S=s) for r in RINGS for s in SUBSTITUENTS})


def enumerate_amines(linkers: list[str] = AMINE_LINKERS, aliphatic: list[str] = ALIPHATIC_AMINES) -> list[str]:
    """Primary amines written attachment-N first (molecule side = building block side)."""
    return sorted({"N" + link + ring for link in linkers for ring in _rings()} | set(aliphatic))


def enumerate_amino_acids() -> list[str]:
    """BB1 templates with ``{A}`` for the acid, amine N last; see :func:`bb1_forms`."""
    side_chains = ALKYL_SIDE_CHAINS + ["C" + r for r in _rings()] + _rings()
    out = {_fill(t, R=r) for t in BB1_TEMPLATES for r in side_chains}
    out |= {_fill(t, S=s) for t in BB1_ARYL for s in SUBSTITUENTS if s}
    return sorted(out)


def bb1_forms(template: str) -> tuple[str, str]:
    """(fragment as it appears in the molecule, the Fmoc-protected building block)."""
    return template.replace("{A}", ACID_IN_MOLECULE), template.replace("{A}", ACID_IN_BLOCK) + FMOC


def canonical(smiles: list[str]) -> list[str]:
    from rdkit import Chem, RDLogger  # heavy

    RDLogger.DisableLog("rdApp.*")
    out = []
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise RuntimeError(f"synthetic building block {s!r} is not valid SMILES")
        out.append(Chem.MolToSmiles(mol))
    return out
