"""OAK camera controls: the capability table and its translation into ``dai.CameraControl``.

The translation is a plain table of method calls (``control_calls``) so it can be checked
without a device; ``build_camera_control`` turns the calls into a real ``dai.CameraControl``.
Ranges follow the depthai documentation of ``CameraControl``: exposure 1..33000 us, ISO
100..1600, white balance 1000..12000 K, lens position 0..255.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from engine.camera._base import ControlSpec

__all__ = [
    "ANTI_BANDING_MODES",
    "DaiEnum",
    "build_camera_control",
    "control_calls",
    "implied_controls",
    "oak_control_specs",
    "replay_calls",
]

EXPOSURE_US = (1, 33000)
ISO = (100, 1600)
WHITE_BALANCE_K = (1000, 12000)
LENS_POSITION = (0, 255)

#: our anti-banding choices -> ``dai.CameraControl.AntiBandingMode`` members
ANTI_BANDING_MODES = {"off": "OFF", "50hz": "MAINS_50_HZ", "60hz": "MAINS_60_HZ", "auto": "AUTO"}

#: controls that are not CameraControl commands (sent to the device itself)
DEVICE_CONTROLS = frozenset({"ir_intensity"})


class DaiEnum(NamedTuple):
    """A ``dai.CameraControl.<kind>.<member>`` enum value, named so tables need no depthai."""

    kind: str
    member: str


def oak_control_specs(
    *, has_ir: bool | None, has_autofocus: bool = True, is_color: bool = True
) -> dict[str, ControlSpec]:
    """The controls of an OAK camera, with ranges; unsupported ones carry the reason.

    Parameters
    ----------
    has_ir : bool or None
        The device has an IR flood driver (``Device.getIrDrivers()`` non-empty). ``None`` =
        not known yet (camera not open). ``ir_intensity`` is offered only when the flood can
        light what this camera sees: a mono sensor (the stereo pair, CAM_B/CAM_C, whose
        filters pass the flood's 940 nm); the colour camera's IR-cut filter blocks it.
    has_autofocus : bool
        The sensor has a motorised lens (``CameraFeatures.hasAutofocus``).
    is_color : bool
        The sensor is a colour sensor (white balance exists).

    Examples
    --------
    >>> specs = oak_control_specs(has_ir=False)
    >>> specs["ir_intensity"].supported, specs["ir_intensity"].reason
    (False, 'no IR driver on this device')
    >>> specs["iso"].minimum, specs["iso"].maximum
    (100, 1600)
    """
    no_af = "fixed-focus lens"
    no_wb = "mono sensor has no white balance"
    if has_ir is None:
        ir_reason = "not known until the camera is open"
    elif not has_ir:
        ir_reason = "no IR driver on this device"
    elif is_color:
        ir_reason = (
            "the colour camera does not see the IR flood (IR-cut filter); use a mono socket "
            "(CAM_B or CAM_C)"
        )
    else:
        ir_reason = ""
    return {
        "auto_exposure": ControlSpec("auto_exposure", "bool", default=True),
        "exposure_us": ControlSpec(
            "exposure_us", "int", 20000, *EXPOSURE_US, unit="us"
        ),  # setting it switches to manual exposure
        "iso": ControlSpec("iso", "int", 400, *ISO),
        "auto_exposure_limit_us": ControlSpec(
            "auto_exposure_limit_us", "int", EXPOSURE_US[1], *EXPOSURE_US, unit="us"
        ),
        "auto_white_balance": ControlSpec(
            "auto_white_balance", "bool", True, supported=is_color, reason="" if is_color else no_wb
        ),
        "white_balance_k": ControlSpec(
            "white_balance_k",
            "int",
            5000,
            *WHITE_BALANCE_K,
            unit="K",
            supported=is_color,
            reason="" if is_color else no_wb,
        ),
        "auto_focus": ControlSpec(
            "auto_focus",
            "bool",
            True,
            supported=has_autofocus,
            reason="" if has_autofocus else no_af,
        ),
        "lens_position": ControlSpec(
            "lens_position",
            "int",
            130,  # about infinity on OAK modules (depthai docs: 120..130)
            *LENS_POSITION,
            supported=has_autofocus,
            reason="" if has_autofocus else no_af,
        ),
        "anti_banding": ControlSpec(
            "anti_banding", "choice", "50hz", choices=tuple(ANTI_BANDING_MODES)
        ),  # firmware default: auto-exposure with 50 Hz anti-banding
        "ir_intensity": ControlSpec(
            "ir_intensity", "float", 0.0, 0.0, 1.0, supported=not ir_reason, reason=ir_reason
        ),
    }


def _get(state: Mapping[str, Any], name: str) -> Any:
    return state.get(name, oak_control_specs(has_ir=None)[name].default)


def control_calls(name: str, value: Any, state: Mapping[str, Any]) -> list[tuple[str, tuple]]:
    """``CameraControl`` method calls that apply ``name = value`` (already validated).

    ``state`` holds the other controls' current values (exposure and ISO are one command, so
    setting one needs the other). Device-level controls (``ir_intensity``) give ``[]``.

    Examples
    --------
    >>> control_calls("iso", 800, {"exposure_us": 10000})
    [('setManualExposure', (10000, 800))]
    >>> control_calls("anti_banding", "60hz", {})
    [('setAntiBandingMode', (DaiEnum(kind='AntiBandingMode', member='MAINS_60_HZ'),))]
    """
    if name in DEVICE_CONTROLS:
        return []
    if name == "auto_exposure":
        if value:
            return [("setAutoExposureEnable", ())]
        return [("setManualExposure", (int(_get(state, "exposure_us")), int(_get(state, "iso"))))]
    if name == "exposure_us":
        return [("setManualExposure", (int(value), int(_get(state, "iso"))))]
    if name == "iso":
        return [("setManualExposure", (int(_get(state, "exposure_us")), int(value)))]
    if name == "auto_exposure_limit_us":
        return [("setAutoExposureLimit", (int(value),))]
    if name == "auto_white_balance":
        if value:
            return [("setAutoWhiteBalanceMode", (DaiEnum("AutoWhiteBalanceMode", "AUTO"),))]
        return [("setManualWhiteBalance", (int(_get(state, "white_balance_k")),))]
    if name == "white_balance_k":
        return [
            ("setAutoWhiteBalanceMode", (DaiEnum("AutoWhiteBalanceMode", "OFF"),)),
            ("setManualWhiteBalance", (int(value),)),
        ]
    if name == "auto_focus":
        if value:
            return [("setAutoFocusMode", (DaiEnum("AutoFocusMode", "CONTINUOUS_VIDEO"),))]
        return [
            ("setAutoFocusMode", (DaiEnum("AutoFocusMode", "OFF"),)),
            ("setManualFocus", (int(_get(state, "lens_position")),)),
        ]
    if name == "lens_position":
        return [
            ("setAutoFocusMode", (DaiEnum("AutoFocusMode", "OFF"),)),
            ("setManualFocus", (int(value),)),
        ]
    if name == "anti_banding":
        return [("setAntiBandingMode", (DaiEnum("AntiBandingMode", ANTI_BANDING_MODES[value]),))]
    raise KeyError(f"no CameraControl translation for control {name!r}")


def implied_controls(name: str, value: Any) -> dict[str, Any]:
    """Other controls a setting changes as a side effect (a manual value leaves auto mode).

    Examples
    --------
    >>> implied_controls("exposure_us", 5000)
    {'auto_exposure': False}
    """
    if name in ("exposure_us", "iso"):
        return {"auto_exposure": False}
    if name == "white_balance_k":
        return {"auto_white_balance": False}
    if name == "lens_position":
        return {"auto_focus": False}
    return {}


def replay_calls(state: Mapping[str, Any]) -> list[tuple[str, tuple]]:
    """Calls that restore every control in ``state`` (after a reconnect the device starts
    from its defaults). Only controls present in ``state`` are sent; auto modes win over the
    manual values they override.

    Examples
    --------
    >>> replay_calls({"exposure_us": 8000, "iso": 200, "auto_exposure": False})
    [('setManualExposure', (8000, 200))]
    """
    calls: list[tuple[str, tuple]] = []
    if "auto_exposure" in state or "exposure_us" in state or "iso" in state:
        calls += control_calls("auto_exposure", _get(state, "auto_exposure"), state)
    if "auto_exposure_limit_us" in state:
        calls += control_calls("auto_exposure_limit_us", state["auto_exposure_limit_us"], state)
    if "auto_white_balance" in state or "white_balance_k" in state:
        if _get(state, "auto_white_balance"):
            calls += control_calls("auto_white_balance", True, state)
        else:
            calls += control_calls("white_balance_k", _get(state, "white_balance_k"), state)
    if "auto_focus" in state or "lens_position" in state:
        calls += control_calls("auto_focus", _get(state, "auto_focus"), state)
    if "anti_banding" in state:
        calls += control_calls("anti_banding", state["anti_banding"], state)
    return calls


def build_camera_control(calls: Iterable[tuple[str, tuple]], control: Any = None) -> Any:
    """Apply ``calls`` to a ``dai.CameraControl`` (a new one unless ``control`` is given).

    ``control`` may be a camera node's ``initialControl`` so the settings hold from the first
    frame. Imports depthai.

    Examples
    --------
    >>> ctrl = build_camera_control([("setManualFocus", (120,))])  # doctest: +SKIP
    >>> ctrl.getLensPosition()  # doctest: +SKIP
    120
    """
    import depthai as dai

    ctrl = dai.CameraControl() if control is None else control
    for method, args in calls:
        resolved = [
            getattr(getattr(dai.CameraControl, a.kind), a.member) if isinstance(a, DaiEnum) else a
            for a in args
        ]
        getattr(ctrl, method)(*resolved)
    return ctrl
