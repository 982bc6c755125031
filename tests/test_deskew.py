import cv2
import numpy as np
import pytest

from medocr.preprocess.deskew import deskew, estimate_skew, rotation_matrix
from medocr.synth.certificate import generate_certificate
from medocr.types import Page


def truth_skew(matrix, width=1654, height=2339):
    """Rotation of the template's horizontal direction at the page centre, degrees CCW."""
    points = np.float64([[width / 2, height / 2], [width / 2 + 100, height / 2]])
    moved = cv2.perspectiveTransform(points.reshape(-1, 1, 2), np.asarray(matrix)).reshape(-1, 2)
    dx, dy = moved[1] - moved[0]
    return -np.degrees(np.arctan2(dy, dx))


def ruled_page(angle):
    page = np.full((1200, 900), 250, np.uint8)
    for y in range(100, 1100, 60):
        cv2.line(page, (60, y), (840, y), 20, 2)
    matrix = rotation_matrix(angle, page.shape)
    return cv2.warpAffine(page, matrix[:2], (900, 1200), borderValue=250)


@pytest.mark.parametrize("angle", [-8.0, -2.5, 0.0, 0.7, 5.0, 8.0])
def test_skew_of_a_ruled_page(angle):
    assert estimate_skew(ruled_page(angle)) == pytest.approx(angle, abs=0.1)


def test_skew_of_synthetic_certificates():
    for index in range(4):
        cert = generate_certificate(31, index)
        expected = truth_skew(cert.truth["transform"])
        assert estimate_skew(cert.image) == pytest.approx(expected, abs=0.3)


def test_blank_page_has_no_skew():
    assert estimate_skew(np.full((600, 400), 255, np.uint8)) == 0.0


def test_deskew_straightens_and_records_the_transform():
    page = Page(ruled_page(4.0), "ruled.png")
    straight = deskew(page)
    assert straight.shape == page.shape
    assert estimate_skew(straight.image) == pytest.approx(0.0, abs=0.1)
    # a point of the original page lands where the transform says
    point = np.float64([[450, 600]]).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(point, straight.transform).reshape(2)
    assert moved == pytest.approx([450, 600], abs=0.5)  # the centre stays put
    corner = cv2.perspectiveTransform(
        np.float64([[60, 100]]).reshape(-1, 1, 2), straight.transform
    ).reshape(2)
    assert not np.allclose(corner, [60, 100])
    assert deskew(page, angle=0.0).image.tobytes() == page.image.tobytes()
