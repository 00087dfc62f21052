"""What was simulated, told apart from how the trajectory went: a summary of a serialized OpenMM System
and of the integrator a segment ran with, compared with a reference (`mdflow verify`).

Chaos makes two runs of one model differ after a few ps, so their averages agree only within their
sampling error, and a small change of the model (a thermostat 10 K off, a 10 % longer timestep) hides in
that error for runs as short as a test's. The model itself does not drift: the same inputs give the same
force-field parameters and integrator settings on any CPU. Comparing them finds such changes whatever the
run length. Pure functions (XML text and dicts in, dicts and sentences out).
"""

import math
import re
import xml.etree.ElementTree as ET

# Attributes that name or version an element rather than set a parameter, and particle indices (the
# topology shows in the entry counts and the parameters attached to each entry).
NOT_PARAMETERS = re.compile(r"^(version|forceGroup|name|type|openmmVersion|recipForceGroup|p\d+)$")
RELATIVE = 1e-6     # serialization keeps ~12 digits; anything larger is another model
INTEGRATOR_WORDS = {"temperature_k": ("thermostat temperature", "K"), "friction_per_ps": ("friction", "1/ps"),
                    "step_fs": ("timestep", "fs"), "type": ("integrator", "")}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _label(element, siblings: dict) -> str:
    """A Force is known by its name (forces of one name numbered); other elements by their tag."""
    if element.tag == "Force":
        name = element.get("name") or element.get("type", "Force")
        siblings[name] = siblings.get(name, 0) + 1
        return name if siblings[name] == 1 else f"{name}#{siblings[name]}"
    return element.tag


def system_summary(xml_text: str) -> dict[str, float]:
    """{"NonbondedForce/Particles/Particle q": sum of |q| over the particles, "…/Particle count": n,
    "NonbondedForce cutoff": 0.9, …}: every numeric parameter of the System, summed (as absolute values,
    so a scaled charge set shows though the net charge does not move) over the entries of each list."""
    summary: dict[str, float] = {}

    def walk(element, path: str, siblings: dict) -> None:
        label = _label(element, siblings)
        here = f"{path}/{label}" if path else label
        if len(element) == 0 or element.tag == "Force":
            for attribute, text in element.attrib.items():
                value = _number(text)
                if value is not None and not NOT_PARAMETERS.match(attribute):
                    key = f"{here} {attribute}"
                    summary[key] = summary.get(key, 0.0) + abs(value)
            if len(element) == 0 and element.tag != "Force" and element.attrib:
                summary[f"{here} count"] = summary.get(f"{here} count", 0) + 1
        children: dict = {}
        for child in element:
            walk(child, "" if element.tag in ("System", "Forces") else here, children)

    walk(ET.fromstring(xml_text), "", {})
    return {key: round(value, 9) for key, value in sorted(summary.items())}


def integrator_summary(integrator) -> dict:
    """The settings an OpenMM Langevin-type integrator actually ran with (read back from the object)."""
    from openmm import unit

    return {"type": type(integrator).__name__,
            "temperature_k": round(integrator.getTemperature().value_in_unit(unit.kelvin), 9),
            "friction_per_ps": round(integrator.getFriction().value_in_unit(unit.picosecond**-1), 9),
            "step_fs": round(integrator.getStepSize().value_in_unit(unit.femtosecond), 9)}


def _same(expected, got) -> bool:
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        return abs(got - expected) <= RELATIVE * max(abs(expected), abs(got), 1e-12)
    return expected == got


def differences(expected: dict, got: dict) -> list[str]:
    """Each parameter that differs, in words ('NonbondedForce/Particles/Particle q: 16.1 expected, got
    16.9 (+5 %)'); a parameter on one side only counts as a difference too."""
    out = []
    for key in sorted(set(expected) | set(got)):
        if key not in got or key not in expected:
            out.append(f"{key}: {'only in the reference' if key in expected else 'not in the reference'}")
        elif not _same(expected[key], got[key]):
            words, unit = INTEGRATOR_WORDS.get(key, (key, ""))
            change = ""
            if isinstance(expected[key], (int, float)) and isinstance(got[key], (int, float)) and expected[key]:
                change = f" ({(got[key] - expected[key]) / abs(expected[key]) * 100:+.3g} %)"
            unit = f" {unit}" if unit else ""
            out.append(f"{words}: expected {expected[key]:g}{unit}, got {got[key]:g}{unit}{change}"
                       if isinstance(got[key], (int, float)) and isinstance(expected[key], (int, float))
                       else f"{words}: expected {expected[key]}, got {got[key]}")
    return out
