"""The counter's redeem page with the camera, in a real browser at a tablet's size (Debian's Chromium driven by
Playwright, in Chinese): Chromium's fake camera plays a video made here from the voucher's own QR code (segno, as
the consumer's page and the API draw it), the store manager presses 扫码, the code field fills, they press 核销 and
the voucher is redeemed. Without a camera, with the camera refused, or shown a QR code that is not an e-voucher,
the page says so in Chinese and typing still works; with JavaScript off, the scan button is absent and typing
works. The JavaScript's code rule is checked against vouchers/codes.py. Each page passes axe-core with no serious
or critical violation and no Content-Security-Policy violation. Screenshot: docs/admin-redeem-scan.png
(DOCS_SCREENSHOTS=1; otherwise artifacts/).

Skips (with the reason) when Playwright or axe is not installed, or /usr/bin/chromium is missing."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
import segno
from PIL import Image

from tests.admin.test_workbench_browser import TABLET, Axe, serious, shot
from tests.browser import BROWSER_SKIPS, browser_page, csp_violations, expect
from tests.factories.vouchers import code_of
from vouchers import codes, crypto
from vouchers.models import Voucher

pytestmark = [*BROWSER_SKIPS, pytest.mark.skipif(Axe is None, reason="axe-playwright-python is not installed")]

SCRIPT = Path(__file__).resolve().parents[2] / "vouchers/static/vouchers/redeem-scan.js"
FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
WIDTH, HEIGHT = 640, 480


def write_y4m(path: Path, qr: segno.QRCode | None, *, blank_frames: int = 3, code_frames: int = 6) -> Path:
    """A short video for Chromium's fake camera (`--use-file-for-fake-video-capture`, which loops it): a few white
    frames, then frames of the QR code `qr` (segno's, as the service draws it), black on white with a 4-module
    quiet zone, scaled to a whole number of pixels a module and centred. YUV 4:2:0: the grey picture is the luma
    plane; both chroma planes are neutral (128)."""
    picture = Image.new("L", (WIDTH, HEIGHT), 255)
    if qr is not None:
        scale = (min(WIDTH, HEIGHT) * 3 // 4) // qr.symbol_size(scale=1, border=4)[0]
        png = io.BytesIO()
        qr.save(png, kind="png", scale=scale, border=4)
        symbol = Image.open(png).convert("L")
        picture.paste(symbol, ((WIDTH - symbol.width) // 2, (HEIGHT - symbol.height) // 2))
    blank = Image.new("L", (WIDTH, HEIGHT), 255).tobytes()
    chroma = bytes([128]) * (WIDTH // 2) * (HEIGHT // 2) * 2
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for luma in [blank] * blank_frames + [picture.tobytes()] * code_frames:
            out.write(b"FRAME\n" + luma + chroma)
    return path


def chromium(*args: str, java_script: bool = True, init_script: str | None = None):
    """A tablet-sized page (820×1180) in Chinese, Chromium started with `args`."""
    return browser_page(args=args, init_script=init_script, locale="zh-CN", java_script_enabled=java_script, **TABLET)


# Keeps what the page asked the camera for and the streams it got, to check that it stops them.
WATCH_CAMERA = """
const openCamera = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
window.cameraStreams = [];
navigator.mediaDevices.getUserMedia = (constraints) => openCamera(constraints).then((stream) => {
  window.cameraAsked = constraints;
  window.cameraStreams.push(stream);
  return stream;
});
"""
CAMERA_STOPPED = "window.cameraStreams.every(s => s.getTracks().every(t => t.readyState === 'ended'))"


def open_redeem_page(page, url: str, user, order) -> None:
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "demo-pass-123")
    page.click("input[type=submit]")
    page.goto(f"{url}/admin/vouchers/voucher/redeem/?order={order.pk}")
    expect(page.get_by_test_id("action-form")).to_be_visible()


def redeemed_on_the_order_page(page) -> None:
    expect(page.locator("ul.messagelist li.success")).to_have_text("电子凭证已核销。")
    expect(page.locator('[data-testid="vouchers"] tbody tr')).to_have_attribute("data-state", "redeemed")
    assert not csp_violations(page.console_messages), page.console_messages


@pytest.fixture
def counter(paid_order, visit, store_manager):
    """Made before the browser starts (Django refuses database calls in Playwright's event loop thread): the
    reference order with its measuring visit booked, so its voucher may be redeemed at the counter."""
    voucher = Voucher.objects.get(stage=visit.stage)
    qr_text = crypto.decrypt(voucher.code_encrypted)  # what the consumer's QR holds (vouchers/api.py, portal/page.py)
    assert codes.normalize(qr_text) == qr_text  # the bare code: no link, no payload
    return {"order": paid_order, "voucher": voucher, "code": code_of(voucher), "qr_text": qr_text,
            "manager": store_manager}


def assert_redeemed_by(voucher: Voucher, user) -> None:
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.REDEEMED
    assert voucher.redeemed_by_id == user.pk and voucher.redeemed_job_id is None  # at the counter, not on a job


@pytest.mark.django_db(transaction=True)
def test_a_store_manager_scans_the_voucher_qr_and_redeems_it(live_server, counter, tmp_path):
    video = write_y4m(tmp_path / "voucher.y4m", codes.qr(counter["qr_text"]))  # the QR the consumer shows
    with chromium(*FAKE_CAMERA, f"--use-file-for-fake-video-capture={video}", init_script=WATCH_CAMERA) as page:
        open_redeem_page(page, live_server.url, counter["manager"], counter["order"])
        scan = page.get_by_test_id("scan")
        expect(scan).to_have_text("扫码")
        expect(page.get_by_test_id("scan-video")).to_be_hidden()
        assert serious(page) == []
        scan.click()
        expect(page.locator("#id_code")).to_have_value(counter["code"])  # the display form
        area = page.get_by_test_id("scan-area")
        expect(area).to_have_attribute("data-scan-state", "found")
        expect(area).to_have_attribute("data-decoder", "jsQR")  # Chromium on Linux has no BarcodeDetector
        expect(page.get_by_test_id("scan-status")).to_have_text("已读取编码，请核对后点击“核销”。")
        expect(page.get_by_test_id("scan-video")).to_be_hidden()
        rear = {"audio": False, "video": {"facingMode": {"ideal": "environment"}}}
        assert page.evaluate("window.cameraAsked") == rear
        assert page.evaluate("window.cameraStreams.length") == 1 and page.evaluate(CAMERA_STOPPED)  # camera off
        assert page.evaluate("document.querySelector('[data-scan-video]').srcObject") is None
        expect(scan).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 820  # fits the tablet
        assert serious(page) == []
        shot(page, "admin-redeem-scan.png", element=page.locator("#content"))
        page.get_by_test_id("confirm").click()
        redeemed_on_the_order_page(page)
    assert_redeemed_by(counter["voucher"], counter["manager"])


@pytest.mark.django_db(transaction=True)
def test_while_the_camera_runs_the_page_passes_axe_and_cancel_stops_it(live_server, counter, tmp_path):
    video = write_y4m(tmp_path / "blank.y4m", None)  # nothing to read: the camera keeps looking
    with chromium(*FAKE_CAMERA, f"--use-file-for-fake-video-capture={video}", init_script=WATCH_CAMERA) as page:
        open_redeem_page(page, live_server.url, counter["manager"], counter["order"])
        page.get_by_test_id("scan").click()
        expect(page.get_by_test_id("scan-area")).to_have_attribute("data-scan-state", "looking")
        expect(page.get_by_test_id("scan-status")).to_have_text("请将电子凭证二维码对准摄像头。")
        expect(page.get_by_test_id("scan-video")).to_be_visible()
        assert page.evaluate("document.querySelector('[data-scan-video]').srcObject.getVideoTracks()[0]"
                             ".readyState") == "live"
        assert serious(page) == []
        assert not page.evaluate(CAMERA_STOPPED)
        page.get_by_test_id("scan-cancel").click()
        expect(page.get_by_test_id("scan-video")).to_be_hidden()
        assert page.evaluate(CAMERA_STOPPED)
        assert page.evaluate("document.querySelector('[data-scan-video]').srcObject") is None
        expect(page.get_by_test_id("scan-status")).to_have_text("")
        expect(page.locator("#id_code")).to_have_value("")
        assert not csp_violations(page.console_messages), page.console_messages


@pytest.mark.django_db(transaction=True)
def test_a_qr_code_that_is_not_a_voucher_fills_nothing(live_server, counter, tmp_path):
    """The consumer shows the wrong QR code (a payment's link): the page says it is not an e-voucher and keeps
    looking; the field stays empty."""
    video = write_y4m(tmp_path / "pay.y4m", segno.make("weixin://wxpay/bizpayurl?pr=AbCdEf1", error="m"))
    with chromium(*FAKE_CAMERA, f"--use-file-for-fake-video-capture={video}") as page:
        open_redeem_page(page, live_server.url, counter["manager"], counter["order"])
        page.get_by_test_id("scan").click()
        expect(page.get_by_test_id("scan-area")).to_have_attribute("data-scan-state", "not-voucher")
        expect(page.get_by_test_id("scan-status")).to_have_text(
            "这个二维码不是电子凭证：请扫描电子凭证二维码，或手动输入编码。")
        expect(page.get_by_test_id("scan-video")).to_be_visible()  # still looking
        expect(page.locator("#id_code")).to_have_value("")
    counter["voucher"].refresh_from_db()
    assert counter["voucher"].state == Voucher.State.ISSUED


@pytest.mark.django_db(transaction=True)
def test_without_a_camera_the_page_says_so_and_typing_works(live_server, counter):
    with chromium("--use-fake-ui-for-media-stream") as page:  # permission given, but this machine has no camera
        open_redeem_page(page, live_server.url, counter["manager"], counter["order"])
        page.get_by_test_id("scan").click()
        status = page.get_by_test_id("scan-status")
        expect(status).to_have_text("此设备上没有找到摄像头，请手动输入编码。")
        expect(page.get_by_test_id("scan-video")).to_be_hidden()
        assert serious(page) == []
        page.fill("#id_code", counter["qr_text"].lower())  # typed by hand, as before
        page.get_by_test_id("confirm").click()
        redeemed_on_the_order_page(page)
    assert_redeemed_by(counter["voucher"], counter["manager"])


@pytest.mark.django_db(transaction=True)
def test_when_the_camera_is_refused_the_page_says_so(live_server, counter, tmp_path):
    video = write_y4m(tmp_path / "voucher.y4m", codes.qr(counter["qr_text"]))
    # A camera, but no automatic yes: headless Chromium answers the permission prompt with no.
    with chromium("--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}") as page:
        open_redeem_page(page, live_server.url, counter["manager"], counter["order"])
        page.get_by_test_id("scan").click()
        expect(page.get_by_test_id("scan-status")).to_have_text(
            "无法使用摄像头：浏览器未获得摄像头权限。请在浏览器设置中允许使用摄像头，或手动输入编码。")
        expect(page.get_by_test_id("scan-status")).to_have_class("wb-scan-status wb-scan-error")
        expect(page.locator("#id_code")).to_be_editable()
        assert serious(page) == []
        assert not csp_violations(page.console_messages), page.console_messages


@pytest.mark.django_db(transaction=True)
def test_with_javascript_off_there_is_no_scan_button_and_typing_works(live_server, counter, tmp_path):
    video = write_y4m(tmp_path / "voucher.y4m", codes.qr(counter["qr_text"]))
    with chromium(*FAKE_CAMERA, f"--use-file-for-fake-video-capture={video}", java_script=False) as page:
        open_redeem_page(page, live_server.url, counter["manager"], counter["order"])
        expect(page.get_by_test_id("scan-area")).to_be_hidden()
        expect(page.get_by_test_id("scan")).to_be_hidden()
        page.fill("#id_code", counter["code"])
        page.get_by_test_id("confirm").click()
        expect(page.locator("ul.messagelist li.success")).to_have_text("电子凭证已核销。")
    assert_redeemed_by(counter["voucher"], counter["manager"])


# A BarcodeDetector for Chromium on Linux, which has none: it reads the picture it is given with jsQR, so the page's
# BarcodeDetector path (formats asked, detect(video), rawValue) is what runs, on the camera's real frames.
BARCODE_DETECTOR = """
window.BarcodeDetector = class {
  static getSupportedFormats() { return Promise.resolve(["qr_code", "ean_13"]); }
  constructor(options) { window.detectorFormats = options.formats; window.detectorCalls = 0; }
  detect(source) {
    window.detectorCalls += 1;
    const canvas = document.createElement("canvas");
    canvas.width = source.videoWidth; canvas.height = source.videoHeight;
    const context = canvas.getContext("2d");
    context.drawImage(source, 0, 0);
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    const found = window.jsQR(image.data, image.width, image.height);
    return Promise.resolve(found ? [{format: "qr_code", rawValue: found.data}] : []);
  }
};
"""


@pytest.mark.django_db(transaction=True)
def test_where_the_browser_has_a_barcode_detector_the_page_uses_it(live_server, counter, tmp_path):
    video = write_y4m(tmp_path / "voucher.y4m", codes.qr(counter["qr_text"]))
    with chromium(*FAKE_CAMERA, f"--use-file-for-fake-video-capture={video}", init_script=BARCODE_DETECTOR) as page:
        open_redeem_page(page, live_server.url, counter["manager"], counter["order"])
        page.get_by_test_id("scan").click()
        expect(page.locator("#id_code")).to_have_value(counter["code"])  # the display form
        expect(page.get_by_test_id("scan-area")).to_have_attribute("data-decoder", "BarcodeDetector")
        assert page.evaluate("window.detectorFormats") == ["qr_code"]
        assert page.evaluate("window.detectorCalls") >= 1


def test_the_pages_code_rule_is_the_services():
    """redeem-scan.js's codeFrom accepts what vouchers.codes.normalize accepts (giving its display form) and
    nothing else: generated codes, in any case, with spaces, O for 0 and I/L for 1, every single-symbol change
    of them, and what else a QR code may hold (links, payment codes, longer text)."""
    rng = random.Random(20)
    valid = [codes.generate() for _ in range(50)]
    texts = [*valid, *(codes.display(c).lower() for c in valid[:10]), *(" ".join(c) for c in valid[10:15]),
             *(c.replace("0", "O").replace("1", rng.choice("IL")) for c in valid[15:25])]
    for code in valid[25:]:
        i = rng.randrange(len(code))
        texts.append(code[:i] + rng.choice(codes.CHECK_ALPHABET.replace(code[i], "")) + code[i + 1:])
    texts += ["", "DEMO01", "https://shop.example/track/abc/", "weixin://wxpay/bizpayurl?pr=AbCdEf1",
              valid[0] + "0", valid[0][:-1], f"https://shop.example/v?code={valid[0]}", "X" * 80,
              codes.display(valid[0]).replace("-", "\u2013")]
    expected = [codes.display(codes.normalize(t)) if codes.is_valid(t) else None for t in texts]
    assert expected.count(None) > 20 and len(expected) - expected.count(None) > 50  # both kinds are there
    with browser_page() as page:
        page.set_content("<!doctype html><title>codeFrom</title>")
        page.add_script_tag(path=str(SCRIPT))
        got = page.evaluate("texts => texts.map(window.voucherScan.codeFrom)", texts)
    assert got == expected
