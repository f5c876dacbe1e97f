"""OAK backend without hardware: blobs vs cards, controls, frame and tensor conversion,
disconnect/reconnect with a fake device session, and a host-only depthai pipeline that runs
the on-camera colorization wiring (resize/gray stage on the host, a host node as the network).
"""

from __future__ import annotations

import datetime
import json
import shutil
import threading
import time
from pathlib import Path

import cv2
import depthai as dai  # noqa: E402 - a core dependency: never skipped
import numpy as np
import pytest

from engine.camera._base import (
    CameraDisconnected,
    CameraError,
    ControlError,
    Frame,
    FrameMeta,
)
from engine.camera._oak import OakCamera
from engine.camera._oak_colorize import (
    OakColorizer,
    load_on_camera_model,
    on_camera_problems,
    output_tensor,
    reference_message,
)
from engine.camera._oak_controls import (
    build_camera_control,
    control_calls,
    oak_control_specs,
    replay_calls,
)
from engine.camera._oak_pipeline import frame_from_imgframe, list_oak_devices
from engine.colorize import decode_output, prepare_inputs, recombine
from engine.models import (
    ModelCard,
    ModelError,
    TensorSpec,
    check_against_card,
    inspect_model,
    tiny_card,
    validate_card_dict,
    write_tiny_model,
)
from tests.conftest import shared_path

BLOBS = ("fixtures", "blobs")
DIFF = "diff_openvino_2021.4_6shave.blob"


# -- helpers ----------------------------------------------------------------------------------
def _card(d: dict, path: Path = Path("model.blob.card.json")) -> ModelCard:
    """A ModelCard from a card dict without a file on disk (the schema/sha are not the point)."""
    return ModelCard(
        path=path,
        name=d["name"],
        version=d["version"],
        format=d["format"],
        file=d.get("file", path.name.removesuffix(".card.json")),
        sha256=d.get("sha256", "0" * 64),
        input_size=(d["input_size"]["width"], d["input_size"]["height"]),
        inputs=tuple(TensorSpec.from_dict(t) for t in d["inputs"]),
        outputs=tuple(TensorSpec.from_dict(t) for t in d["outputs"]),
        raw=d,
    )


def _on_camera_card_dict(width=32, height=24) -> dict:
    """The tiny contract card as an on-camera blob would declare it (U8 gray8 night, FP16 rest)."""
    d = tiny_card(width, height, name="tiny-blob")
    d["format"] = "blob"
    for t in d["inputs"] + d["outputs"]:
        t["dtype"] = "float16"
    night = d["inputs"][0]
    night.update(dtype="uint8", encoding="gray8", scale=1.0, range=[0.0, 255.0])
    return d


def _diff_card_dict() -> dict:
    """A card describing the diff fixture blob exactly (two U8 3x720x720 CHW inputs)."""

    def t(name, role, shape, dtype, layout):
        gray8 = {"encoding": "gray8"} if role == "night_l" else {}  # the camera's GRAY8 frame
        return {
            **gray8,
            "name": name,
            "role": role,
            "layout": layout,
            "shape": shape,
            "dtype": dtype,
            "scale": 1.0,
            "offset": 0.0,
        }

    return {
        "schema_version": 1,
        "name": "diff",
        "version": "1",
        "format": "blob",
        "color_space": "CIELab-D65",
        "input_size": {"width": 720, "height": 720},
        "inputs": [
            t("img1", "night_l", [3, 720, 720], "uint8", "CHW"),
            t("img2", "ref_ab", [3, 720, 720], "uint8", "CHW"),
        ],
        "outputs": [t("output", "ab", [720, 720], "float16", "NC")],
    }


def _imgframe(image: np.ndarray, kind: str, *, seq=0, exposure_us=0, iso=0, wb=0, lens=0):
    msg = dai.ImgFrame()
    if kind in ("GRAY8", "RGB888i"):
        msg.setData(np.ascontiguousarray(image).reshape(-1))
        msg.setWidth(image.shape[1])
        msg.setHeight(image.shape[0])
        msg.setType(getattr(dai.ImgFrame.Type, kind))
    else:  # setCvFrame takes BGR and converts to the target type
        msg.setCvFrame(np.ascontiguousarray(image[:, :, ::-1]), getattr(dai.ImgFrame.Type, kind))
    cam = msg.cam
    cam.exposureTimeUs, cam.sensitivityIso, cam.wbColorTemp, cam.lensPosition = (
        exposure_us,
        iso,
        wb,
        lens,
    )
    msg.cam = cam
    msg.setSequenceNum(seq)
    msg.setTimestamp(dai.Clock.now())
    return msg


# -- blob inspection and card checks (real MyriadX blobs) ------------------------------------
def test_two_input_blob_inspected_without_device():
    io = inspect_model(shared_path(*BLOBS, DIFF))
    assert io.format == "blob"
    assert [(t.name, t.shape, t.dtype, t.layout) for t in io.inputs] == [
        ("img1", (3, 720, 720), "uint8", "CHW"),
        ("img2", (3, 720, 720), "uint8", "CHW"),
    ]
    assert [(t.name, t.dtype) for t in io.outputs] == [("output", "float16")]
    assert io.info["shaves"] == 6


def test_blob_dims_are_reported_outermost_first():
    # the concat blob joins three 3x300x300 images along W: 1x3x300x900, not 900 high
    io = inspect_model(shared_path(*BLOBS, "concat_openvino_2021.4_6shave.blob"))
    assert [t.name for t in io.inputs] == ["img1", "img2", "img3"]
    assert io.outputs[0].shape == (1, 3, 300, 900)
    assert io.outputs[0].layout == "NCHW"


def test_matching_card_has_no_mismatch_and_passes_camera_checks():
    blob = shared_path(*BLOBS, DIFF)
    card = _card(_diff_card_dict())
    assert check_against_card(inspect_model(blob), card) == []
    loaded_card, io = load_on_camera_model(blob, card=card)
    assert loaded_card is card and io.format == "blob"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["inputs"][0].update(shape=[3, 720, 640]),
            "input 'img1': shape [3, 720, 720] in model, [3, 720, 640] in card",
        ),
        (
            lambda d: d["inputs"][1].update(name="reference"),
            "input 'reference' (ref_ab) missing from model (has: img1, img2)",
        ),
        (
            lambda d: d["outputs"][0].update(dtype="float32"),
            "output 'output': dtype float16 in model, float32 in card",
        ),
        (
            lambda d: d["inputs"][0].update(layout="HWC"),
            "input 'img1': layout CHW in model, HWC in card",
        ),
    ],
)
def test_card_mismatch_is_one_precise_line(edit, message):
    blob = shared_path(*BLOBS, DIFF)
    d = _diff_card_dict()
    edit(d)
    card = _card(d)
    assert message in check_against_card(inspect_model(blob), card)
    with pytest.raises(ModelError) as err:
        load_on_camera_model(blob, card=card)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{DIFF} cannot run on the camera: ")


def test_blob_beside_an_off_contract_card_is_refused_before_deploying(tmp_path):
    # a reference-colorizer-shaped blob (two inputs) whose inputs are 3-channel images
    blob = tmp_path / DIFF
    shutil.copyfile(shared_path(*BLOBS, DIFF), blob)
    d = _diff_card_dict()
    d.update(file=DIFF, sha256="0" * 64)
    (tmp_path / f"{DIFF}.card.json").write_text(json.dumps(d))
    with pytest.raises(ModelError) as err:
        load_on_camera_model(blob)
    # the blob's (N,C) output cannot be described by the contract: named, with the count
    assert str(err.value) == (
        f"{DIFF}.card.json: invalid card: outputs[0].layout: 'NC' is not one of "
        "['NCHW', 'NHWC', 'CHW', 'HWC'] (+1 more)"
    )


def test_onnx_model_is_refused_for_the_camera(tmp_path):
    model = write_tiny_model(tmp_path / "tiny.onnx")
    with pytest.raises(ModelError, match="format: onnx runs on the host only"):
        load_on_camera_model(model)


@pytest.mark.parametrize(
    ("role", "dtype", "message"),
    [
        ("night_l", "float16", "input 'night_l' (night_l): dtype float16, but the camera feeds"),
        ("ref_ab", "float32", "input 'ref_ab' (ref_ab): dtype float32 cannot be sent"),
        ("ab", "uint8", "output 'ab': dtype uint8; a MyriadX blob returns float16 or float32"),
    ],
)
def test_camera_path_dtype_rules(role, dtype, message):
    d = _on_camera_card_dict()
    for t in d["inputs"] + d["outputs"]:
        if t["role"] == role:
            t["dtype"] = dtype
    card = _card(d)
    io = type("IO", (), {"format": "blob", "info": {}})()
    problems = on_camera_problems(card, io)
    assert len(problems) == 1 and problems[0].startswith(message)


def test_on_camera_card_is_contract_valid():
    assert (
        validate_card_dict({**_on_camera_card_dict(), "file": "m.blob", "sha256": "0" * 64}) == []
    )
    assert (
        on_camera_problems(_card(_on_camera_card_dict()), type("IO", (), {"format": "blob"})) == []
    )


# -- controls ---------------------------------------------------------------------------------
def test_capabilities_have_documented_ranges_and_ir_reason():
    specs = oak_control_specs(has_ir=False, has_autofocus=True)
    ranges = {n: (s.minimum, s.maximum) for n, s in specs.items() if s.kind == "int"}
    assert ranges["exposure_us"] == (1, 33000)
    assert ranges["iso"] == (100, 1600)
    assert ranges["white_balance_k"] == (1000, 12000)
    assert ranges["lens_position"] == (0, 255)
    assert specs["anti_banding"].choices == ("off", "50hz", "60hz", "auto")
    ir = specs["ir_intensity"]
    assert (ir.supported, ir.reason) == (False, "no IR driver on this device")
    assert oak_control_specs(has_ir=True)["ir_intensity"].supported
    fixed = oak_control_specs(has_ir=True, has_autofocus=False)["lens_position"]
    assert (fixed.supported, fixed.reason) == (False, "fixed-focus lens")


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("exposure_us", 40000, r"exposure_us: 40000 out of range \[1, 33000\] us"),
        ("exposure_us", 0, r"out of range \[1, 33000\]"),
        ("iso", 50, r"iso: 50 out of range \[100, 1600\]"),
        ("white_balance_k", 20000, r"out of range \[1000, 12000\] K"),
        ("lens_position", 256, r"lens_position: 256 out of range \[0, 255\]"),
        ("lens_position", 12.5, "expected an integer"),
        ("anti_banding", "100hz", "'100hz' is not one of off, 50hz, 60hz, auto"),
        ("ir_intensity", 0.5, r"unsupported on this device \(no IR driver on this device\)"),
        ("brightness", 1, "unknown control 'brightness'"),
    ],
)
def test_out_of_range_controls_are_rejected(fake_world, name, value, match):
    cam = OakCamera().open()
    try:
        with pytest.raises(ControlError, match=match):
            cam.set_control(name, value)
        assert fake_world.sessions[-1].controls_sent == []  # nothing reached the device
    finally:
        cam.close()


def _cmd(ctrl, name):
    return ctrl.getCommand(getattr(dai.CameraControl.Command, name))


@pytest.mark.parametrize(
    ("name", "value", "state", "check"),
    [
        (
            "exposure_us",
            8000,
            {"iso": 800},
            lambda c: (
                (c.expManual.exposureTimeUs, c.expManual.sensitivityIso, _cmd(c, "AE_MANUAL"))
                == (8000, 800, True)
            ),
        ),
        (
            "iso",
            1600,
            {"exposure_us": 1000},
            lambda c: (
                (c.getExposureTime(), c.getSensitivity())
                == (datetime.timedelta(microseconds=1000), 1600)
            ),
        ),
        ("auto_exposure", True, {}, lambda c: _cmd(c, "AE_AUTO") and not _cmd(c, "AE_MANUAL")),
        (
            "auto_exposure_limit_us",
            15000,
            {},
            lambda c: c.aeMaxExposureTimeUs == 15000,
        ),
        (
            "white_balance_k",
            3200,
            {},
            lambda c: (
                (c.wbColorTemp, c.awbMode.name, _cmd(c, "WB_COLOR_TEMP")) == (3200, "OFF", True)
            ),
        ),
        ("auto_white_balance", True, {}, lambda c: c.awbMode.name == "AUTO"),
        (
            "lens_position",
            200,
            {},
            lambda c: (
                (c.getLensPosition(), c.autoFocusMode.name, _cmd(c, "MOVE_LENS"))
                == (200, "OFF", True)
            ),
        ),
        ("auto_focus", True, {}, lambda c: c.autoFocusMode.name == "CONTINUOUS_VIDEO"),
        ("anti_banding", "60hz", {}, lambda c: c.antiBandingMode.name == "MAINS_60_HZ"),
        ("anti_banding", "off", {}, lambda c: c.antiBandingMode.name == "OFF"),
    ],
)
def test_control_translates_into_camera_control(name, value, state, check):
    ctrl = build_camera_control(control_calls(name, value, state))
    assert isinstance(ctrl, dai.CameraControl)
    assert check(ctrl)


def test_replayed_controls_restore_manual_state():
    state = {"exposure_us": 5000, "iso": 300, "auto_exposure": False, "lens_position": 90,
             "auto_focus": False, "anti_banding": "auto"}  # fmt: skip
    ctrl = build_camera_control(replay_calls(state))
    assert (ctrl.expManual.exposureTimeUs, ctrl.expManual.sensitivityIso) == (5000, 300)
    assert (ctrl.getLensPosition(), ctrl.autoFocusMode.name) == (90, "OFF")
    assert ctrl.antiBandingMode.name == "AUTO"
    assert replay_calls({}) == []


# -- frames -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["RGB888i", "BGR888i", "GRAY8"])
def test_imgframe_becomes_an_owned_rgb_or_gray_copy(kind, rng):
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    src = rgb[:, :, 0].copy() if kind == "GRAY8" else rgb
    msg = _imgframe(src, kind, seq=7, exposure_us=16500, iso=400, wb=5600, lens=120)
    frame = frame_from_imgframe(msg, device_id="MX1", sequence=107, ir_intensity=None)
    np.testing.assert_array_equal(frame.image, src)  # RGB order whatever the ImgFrame type
    assert frame.image.flags.owndata and frame.image.flags.c_contiguous
    msg.setData(np.zeros(src.size, np.uint8))  # the device reuses its buffers
    del msg
    np.testing.assert_array_equal(frame.image, src)
    m = frame.meta
    assert (m.sequence, m.extra["device_sequence"], m.device_id) == (107, 7, "MX1")
    assert (m.exposure_us, m.iso, m.white_balance_k, m.lens_position) == (16500, 400, 5600, 120)
    assert m.ir_intensity is None


def test_nv12_frame_is_converted_to_rgb():
    rgb = np.zeros((24, 32, 3), np.uint8)
    rgb[:, :16] = (200, 40, 40)  # flat colour blocks survive chroma subsampling
    rgb[:, 16:] = (30, 60, 220)
    frame = frame_from_imgframe(_imgframe(rgb, "NV12"), device_id="MX1")
    assert frame.image.shape == (24, 32, 3)
    assert np.abs(frame.image[:, 2:14].astype(int) - (200, 40, 40)).max() <= 6
    assert np.abs(frame.image[:, 18:30].astype(int) - (30, 60, 220)).max() <= 6


def test_metadata_mapping_of_mono_fixed_focus_frame():
    msg = _imgframe(np.full((8, 8), 9, np.uint8), "GRAY8", exposure_us=33000, iso=1600, lens=0)
    now = dai.Clock.now()
    msg.setTimestamp(now - datetime.timedelta(milliseconds=250))
    frame = frame_from_imgframe(
        msg, device_id="MX1", ir_intensity=0.3, has_autofocus=False, clock_now=now, wall_now=1000.0
    )
    m = frame.meta
    assert m.timestamp == pytest.approx(999.75, abs=1e-6)
    assert (m.white_balance_k, m.lens_position, m.ir_intensity) == (None, None, 0.3)


# -- NN tensors -------------------------------------------------------------------------------
def test_reference_message_carries_the_tensor_bytes():
    t = (np.arange(2 * 6 * 8, dtype=np.float32).reshape(1, 2, 6, 8) / 100).astype(np.float16)
    msg = reference_message("ref_ab", t)
    assert msg.getAllLayerNames() == ["ref_ab"]
    info = msg.getTensorInfo("ref_ab")
    assert info.dataType == dai.TensorInfo.DataType.FP16 and list(info.dims) == [1, 2, 6, 8]
    np.testing.assert_array_equal(output_tensor(msg, "ref_ab"), t.reshape(-1).astype(np.float32))
    with pytest.raises(ValueError, match="dtype float32 cannot go to a MyriadX blob"):
        reference_message("ref_ab", t.astype(np.float32))


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "CHW"])
def test_nn_output_fp16_to_physical_ab(layout, rng):
    h, w = 6, 8
    ab = rng.uniform(-100, 100, (h, w, 2)).astype(np.float32)  # physical a, b
    spec = TensorSpec(
        name="ab",
        role="ab",
        layout=layout,
        shape={"NCHW": (1, 2, h, w), "NHWC": (1, h, w, 2), "CHW": (2, h, w)}[layout],
        dtype="float16",
        scale=1 / 128,
        offset=0.0,
    )
    tensor = ab / 128
    tensor = np.transpose(tensor, (2, 0, 1)) if "CHW" in layout else tensor
    msg = dai.NNData()  # a first tensor shifts the ab tensor's offset inside the buffer
    msg.addTensor("other", np.ones((1, 3), np.float16), dai.TensorInfo.DataType.FP16)
    msg.addTensor("ab", tensor.astype(np.float16).reshape(spec.shape), dai.TensorInfo.DataType.FP16)
    out = decode_output(output_tensor(msg, "ab"), spec)
    assert out.shape == (h, w, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, ab, atol=128 * 2**-11)  # fp16 precision at |t| < 1


def test_nn_output_unknown_tensor_name_is_an_error():
    msg = dai.NNData()
    msg.addTensor("a", np.ones((1, 2), np.float16), dai.TensorInfo.DataType.FP16)
    msg.addTensor("b", np.ones((1, 2), np.float16), dai.TensorInfo.DataType.FP16)
    with pytest.raises(ValueError, match="NN output has no tensor 'ab' \\(has: a, b\\)"):
        output_tensor(msg, "ab")


class _ListQueue:
    """Plays the NeuralNetwork output queue."""

    def __init__(self):
        self.items: list = []

    def tryGetAll(self):  # noqa: N802 - depthai's name
        items, self.items = self.items, []
        return items


def _ab_message(seq: int, value: float, h: int, w: int):
    msg = dai.NNData()
    tensor = np.full((1, 2, h, w), value / 128, np.float16)
    msg.addTensor("ab", tensor, dai.TensorInfo.DataType.FP16)
    msg.setSequenceNum(seq)
    return msg


def _night_frame(seq: int) -> Frame:
    meta = FrameMeta(timestamp=0.0, sequence=seq, device_id="MX", extra={"device_sequence": seq})
    return Frame(np.full((12, 16), 100, np.uint8), meta)


def test_ab_output_is_paired_with_its_own_night_frame():
    colorizer = OakColorizer(_card(_on_camera_card_dict(8, 6)), "model.blob")
    queue = colorizer._out_queue = _ListQueue()
    queue.items = [_ab_message(5, 10.0, 6, 8)]
    colorizer.add_night_frame(_night_frame(4))
    colorizer.poll()
    assert colorizer.latest_result() is None  # frame 5 has not reached the host yet
    colorizer.add_night_frame(_night_frame(5))
    colorizer.poll()
    got = colorizer.latest_result()
    assert got.frame.meta.sequence == 5 and colorizer.unmatched == 0
    np.testing.assert_allclose(got.result.ab_lowres, 10.0, atol=0.01)
    queue.items = [_ab_message(6, 20.0, 6, 8)]  # frame 6 was dropped on the way to the host
    colorizer.add_night_frame(_night_frame(7))
    colorizer.poll()
    got = colorizer.latest_result()
    assert (got.frame.meta.sequence, colorizer.unmatched, colorizer.results_received) == (7, 1, 2)
    np.testing.assert_allclose(got.result.ab_lowres, 20.0, atol=0.02)


# -- device discovery -------------------------------------------------------------------------
def _device_info(name, device_id, state, protocol):
    return dai.DeviceInfo(
        name,
        device_id,
        getattr(dai.XLinkDeviceState, state),
        getattr(dai.XLinkProtocol, protocol),
        dai.XLinkPlatform.X_LINK_MYRIAD_X,
        dai.XLinkError_t.X_LINK_SUCCESS,
    )


def test_list_devices_maps_usb_and_poe(monkeypatch):
    usb = _device_info("1.3", "14442C10D13EABCE00", "X_LINK_UNBOOTED", "X_LINK_USB_VSC")
    poe = _device_info("192.168.1.44", "1844301011B546F500", "X_LINK_BOOTLOADER", "X_LINK_TCP_IP")
    monkeypatch.setattr(dai.Device, "getAllAvailableDevices", staticmethod(lambda: [usb, poe]))
    assert list_oak_devices() == [
        {"device_id": "14442C10D13EABCE00", "name": "1.3", "state": "unbooted",
         "protocol": "USB", "platform": "RVC2"},
        {"device_id": "1844301011B546F500", "name": "192.168.1.44", "state": "bootloader",
         "protocol": "PoE", "platform": "RVC2"},
    ]  # fmt: skip


def test_list_devices_never_raises(monkeypatch):
    def broken():
        raise RuntimeError("XLink failure")

    monkeypatch.setattr(dai.Device, "getAllAvailableDevices", staticmethod(broken))
    assert list_oak_devices() == []


# -- disconnect / reconnect with a fake device session -----------------------------------------
class FakeWorld:
    """The devices a fake session can reach; ``plugged`` flips to simulate unplugging."""

    def __init__(self):
        self.plugged = True
        self.has_ir = False
        self.sessions: list[FakeSession] = []


class FakeSession:
    world: FakeWorld

    def __init__(
        self, device_id, *, resolution, fps, mono, socket, controls, ir_intensity, colorizer
    ):
        self.device_id, self.resolution, self.mono = device_id, resolution, mono
        self.colorizer = colorizer
        self.controls_at_open = dict(controls)
        self.controls_sent: list = []
        self.ir_calls: list = []
        self.name, self.has_ir = "OAK-1-MAX", self.world.has_ir
        self.has_autofocus, self.is_color = True, True
        self._seq = 0
        self.closed = False

    @classmethod
    def available(cls):
        if not cls.world.plugged:
            return []
        return [{"device_id": "MXFAKE", "name": "1.1", "state": "unbooted", "protocol": "USB"}]

    def open(self):
        if not self.world.plugged:
            raise CameraError("OAK MXFAKE: cannot start (device not found)")
        self.world.sessions.append(self)

    def grab(self, timeout):
        if not self.world.plugged or self.closed:
            raise CameraDisconnected("OAK MXFAKE: stream lost (X_LINK_ERROR)")
        time.sleep(0.005)
        w, h = self.resolution
        img = np.full((h, w), self._seq % 256, np.uint8)
        msg = _imgframe(img, "GRAY8", seq=self._seq, exposure_us=1000 + self._seq, iso=100)
        self._seq += 1
        return [msg]

    def send_control(self, ctrl):
        self.controls_sent.append(ctrl)

    def set_ir(self, value):
        self.ir_calls.append(value)

    def close(self):
        self.closed = True


@pytest.fixture
def fake_world(monkeypatch):
    world = FakeWorld()
    monkeypatch.setattr(FakeSession, "world", world, raising=False)
    monkeypatch.setattr(OakCamera, "session_factory", FakeSession)
    return world


def test_open_picks_first_device_and_reports_unknown_ones(fake_world):
    cam = OakCamera(resolution=(32, 24), mono=True)
    with cam:
        assert cam.info.device_id == "MXFAKE" and cam.info.name == "OAK-1-MAX"
        frame = cam.snap()
        assert frame.image.shape == (24, 32) and frame.meta.exposure_us == 1000
    with pytest.raises(CameraError, match=r"OAK NOPE: not found \(devices found: MXFAKE\)"):
        OakCamera("NOPE").open()
    fake_world.plugged = False
    with pytest.raises(CameraError, match="no device found"):
        OakCamera().open()


def test_controls_reach_the_device_and_are_replayed(fake_world):
    fake_world.has_ir = True
    with OakCamera(resolution=(32, 24)) as cam:
        assert cam.set_control("exposure_us", 8000) == 8000
        assert cam.get_control("auto_exposure") is False  # a manual value leaves auto mode
        cam.set_control("ir_intensity", 0.25)
        session = fake_world.sessions[-1]
        assert session.controls_sent[0].expManual.exposureTimeUs == 8000
        assert session.ir_calls == [0.25]
        assert cam.snap().meta.ir_intensity == 0.25
        cam.close()
        cam.open()
        assert fake_world.sessions[-1].controls_at_open["exposure_us"] == 8000


def test_unplug_keeps_captures_and_reconnects(fake_world):
    cam = OakCamera(resolution=(16, 16), mono=True)
    cam.reconnect_interval = 0.02
    events: list[str] = []
    gone, back = threading.Event(), threading.Event()
    cam.events.disconnected.connect(lambda msg: (events.append(msg), gone.set()))
    cam.events.reconnected.connect(lambda msg: (events.append(msg), back.set()))
    cam.start()
    try:
        before = cam.wait_frame(timeout=2.0)
        kept = before.image.copy()
        fake_world.plugged = False
        assert gone.wait(2.0)
        assert not cam.is_connected and cam.is_streaming
        assert events[0].startswith("OAK MXFAKE: stream lost")
        np.testing.assert_array_equal(before.image, kept)  # delivered frames stay valid
        time.sleep(0.1)  # several reconnect attempts fail while unplugged
        assert len(fake_world.sessions) == 1
        fake_world.plugged = True
        assert back.wait(2.0)
        after = cam.wait_frame(timeout=2.0, after=before.meta.sequence)
        assert cam.is_connected and len(fake_world.sessions) == 2
        assert after.meta.sequence > before.meta.sequence  # our numbering keeps increasing
        assert events[1] == "oak: MXFAKE is back"
    finally:
        cam.close()
    assert fake_world.sessions[-1].closed


def test_colorization_is_part_of_the_device_session(fake_world):
    blob = shared_path(*BLOBS, DIFF)
    cam = OakCamera(resolution=(16, 16), mono=True)
    colorizer = cam.enable_colorization(blob, card=_card(_diff_card_dict()))
    assert cam.colorizer is colorizer and cam.info.details["colorization"] == "diff"
    with cam:
        assert fake_world.sessions[-1].colorizer is colorizer  # built into the pipeline
        cam.snap()
        assert list(colorizer._frames) == [0]  # night frames kept for pairing with ab
        with pytest.raises(CameraError, match="enable colorization before opening"):
            cam.enable_colorization(blob)


def test_missing_default_blob_says_how_to_make_it(monkeypatch, tmp_path):
    import engine.camera._oak_colorize as oc

    monkeypatch.setattr(oc, "default_on_camera_model", lambda: tmp_path / "refcolor_s.blob")
    with pytest.raises(ModelError, match="no on-camera build .* nightlab model to-blob"):
        load_on_camera_model()


def test_constructor_validates_arguments():
    with pytest.raises(ValueError, match="resolution must be"):
        OakCamera(resolution=(640,))
    with pytest.raises(ValueError, match=r"fps must be in \(0, 120\]"):
        OakCamera(fps=0)
    with pytest.raises(ValueError, match="socket must be one of"):
        OakCamera(socket="RGB")


# -- host-only depthai pipeline: the on-camera colorization wiring ---------------------------
class EchoNetwork(dai.node.ThreadedHostNode):
    """Stands in for the NeuralNetwork node: returns the reference ab as the model output."""

    def __init__(self):
        super().__init__()
        self.inputs = {"night_l": self.createInput(), "ref_l": self.createInput()}
        self.inputs["ref_ab"] = self.createInput()
        self.out = self.createOutput()
        self.night_shapes: list = []

    def run(self):
        ref = None
        while self.isRunning():
            try:
                night = self.inputs["night_l"].get()
            except dai.MessageQueue.QueueException:
                break
            ref = self.inputs["ref_ab"].tryGet() or ref
            if ref is None:
                continue
            self.night_shapes.append((night.getType().name, night.getHeight(), night.getWidth()))
            out = dai.NNData()
            tensor = ref.getTensor("ref_ab").astype(np.float16)
            out.addTensor("ab", tensor, dai.TensorInfo.DataType.FP16)
            out.setSequenceNum(night.getSequenceNum())
            self.out.send(out)


def _write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()


def test_host_pipeline_colorizes_like_the_host_path(tmp_path):
    width, height, n = 64, 48, 12
    yy, xx = np.mgrid[0:height, 0:width]
    frames = [((xx * 3 + yy * 2 + 5 * i) % 256).astype(np.uint8) for i in range(n)]
    video = tmp_path / "night.avi"
    _write_video(video, frames, fps=30)
    card = _card(_on_camera_card_dict(32, 24))
    colorizer = OakColorizer(card, tmp_path / "model.blob")

    reference = np.zeros((height, width, 3), np.uint8)
    reference[:, : width // 2] = (190, 60, 50)
    reference[:, width // 2 :] = (40, 90, 200)
    leak = np.zeros((height, width), np.float32)
    leak[:, -8:] = 1.0  # the scene changed on the right edge

    pipeline = dai.Pipeline(createImplicitDevice=False)
    replay = pipeline.create(dai.node.ReplayVideo)
    replay.setReplayVideoFile(video)
    replay.setOutFrameType(dai.ImgFrame.Type.GRAY8)
    replay.setLoop(False)
    replay.setFps(30)
    night_queue = replay.out.createOutputQueue(maxSize=n, blocking=True)
    network = pipeline.create(EchoNetwork)
    colorizer.build(pipeline, replay.out, network=network, manip_on_host=True)
    colorizer.set_reference(frames[0], reference, leak_mask=leak)
    pipeline.start()
    try:
        deadline = time.monotonic() + 10
        while colorizer.results_received < 3 and time.monotonic() < deadline:
            msg = night_queue.get(datetime.timedelta(seconds=0.1))
            if msg is not None:
                colorizer.add_night_frame(frame_from_imgframe(msg, device_id="host"))
            colorizer.poll()
    finally:
        pipeline.stop()
        pipeline.wait()
    assert colorizer.results_received >= 3 and colorizer.unmatched == 0
    assert set(network.night_shapes) == {("GRAY8", 24, 32)}  # the resize/gray stage

    got = colorizer.latest_result()
    night = got.frame.image
    tensors = prepare_inputs(frames[0], reference, leak_mask=leak, card=card)
    expected_ab = decode_output(tensors["ref_ab"].astype(np.float16), card.output)
    np.testing.assert_array_equal(got.result.ab_lowres, expected_ab)
    assert np.abs(expected_ab[:, -2:]).max() == 0  # no reference colour under the leak mask
    host = recombine(night, expected_ab, leak_mask=leak, model_name=card.name)
    np.testing.assert_array_equal(got.result.rgb, host.rgb)  # same code, same picture
    assert colorizer.latest_result() is got  # recombined once per new result
