import copy
import json
import re

import pytest

from medocr.errors import TemplateError
from medocr.templates import DEFAULT_TEMPLATE, list_templates, load_template, parse_template


@pytest.fixture(scope="module")
def default_data():
    template = load_template()
    from importlib import resources

    text = (
        resources.files("medocr.templates")
        .joinpath("fr_deces_volet_medical.json")
        .read_text(encoding="utf-8")
    )
    assert template.id == DEFAULT_TEMPLATE
    return json.loads(text)


def test_default_template_models_the_medical_part():
    template = load_template()
    names = [f.name for f in template.fields]
    for letter in "abcd":
        assert template.field(f"cause_1{letter}").kind == "cause"
        assert template.field(f"interval_1{letter}").kind == "interval"
    assert template.field("cause_2").lines == 2
    assert template.field("death_date").kind == "date"
    groups = {f.group for f in template.fields if f.kind == "checkbox"}
    assert groups == {"autopsy", "pregnancy"}
    assert len(names) == len(set(names))
    assert (template.width_px, template.height_px, template.dpi) == (1654, 2339, 200)
    assert list_templates() == [DEFAULT_TEMPLATE]


def test_fields_lie_inside_the_page_and_do_not_overlap():
    template = load_template()
    boxes = [f.box for f in template.fields]
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= template.width_px and 0 <= y0 < y1 <= template.height_px
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap_x = min(a[2], b[2]) - max(a[0], b[0])
            overlap_y = min(a[3], b[3]) - max(a[1], b[1])
            assert overlap_x <= 0 or overlap_y <= 0, (a, b)


def test_line_boxes_split_multiline_fields():
    field = load_template().field("cause_2")
    first, second = field.line_boxes
    assert first[1] == field.box[1] and second[3] == field.box[3]
    assert first[3] == second[1]


def test_a_user_template_loads_from_a_file(tmp_path, default_data):
    data = copy.deepcopy(default_data)
    data["id"] = "my-form"
    data["fields"] = [f for f in data["fields"] if f["name"] in ("cause_1a", "interval_1a")]
    path = tmp_path / "my_form.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    template = load_template(path)
    assert template.ref == "my-form@1.0.0"
    assert [f.name for f in template.fields] == ["cause_1a", "interval_1a"]
    assert template.source == str(path)


def _mutate(data, path, value):
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()

BAD_TEMPLATES = [
    (("format_version",), 2, "format_version 2 is not supported (expected 1)"),
    (("id",), _DELETE, "missing key id"),
    (("page", "dpi"), 0, "page.dpi must be positive, got 0"),
    (("page", "width_px"), "1654", "page.width_px must be int, got str '1654'"),
    (("page", "width_px"), 2000, "page.width_px is 2000 but 210.0 mm at 200 dpi is 1654 px"),
    (("fields",), [], "fields is empty: a template needs at least one field"),
    (
        ("fields", 0, "kind"),
        "signature",
        "fields[0] (death_date).kind 'signature' is unknown (expected one of cause, interval, "
        "checkbox, text, date)",
    ),
    (
        ("fields", 0, "box"),
        [430, 290, 400, 370],
        "fields[0] (death_date).box [430, 290, 400, 370] is empty (need x0 < x1 and y0 < y1)",
    ),
    (
        ("fields", 0, "box"),
        [430, 290, 9000, 370],
        "fields[0] (death_date).box [9000, 370] lies outside the 1654x2339 page",
    ),
    (
        ("fields", 0, "box"),
        [1, 2, 3],
        "fields[0] (death_date).box must be [x0, y0, x1, y1] integers, got [1, 2, 3]",
    ),
    (("fields", 0, "lines"), 0, "fields[0] (death_date).lines must be a positive integer, got 0"),
    (("fields", 1, "name"), "death_date", "duplicate field names: death_date"),
    (
        ("elements", 0, "type"),
        "circle",
        "elements[0].type 'circle' is unknown (expected one of text, line, box)",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), BAD_TEMPLATES, ids=[m[:40] for _, _, m in BAD_TEMPLATES]
)
def test_malformed_templates_are_refused_with_the_reason(default_data, path, value, message):
    data = _mutate(copy.deepcopy(default_data), path, value)
    with pytest.raises(TemplateError) as info:
        parse_template(data, source="form.json")
    assert str(info.value) == f"form.json: {message}"


def test_checkbox_needs_group_and_value(default_data):
    data = copy.deepcopy(default_data)
    box = next(f for f in data["fields"] if f["kind"] == "checkbox")
    del box["group"]
    with pytest.raises(TemplateError, match=r"a checkbox needs string 'group' and 'value' keys"):
        parse_template(data, source="form.json")


def test_file_errors(tmp_path):
    with pytest.raises(
        TemplateError, match=re.escape(f"{tmp_path / 'none.json'}: template file not found")
    ):
        load_template(tmp_path / "none.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": ', encoding="utf-8")
    with pytest.raises(TemplateError, match=r"broken.json: invalid JSON at line 1 column 8"):
        load_template(broken)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"list.json: a template must be a JSON object"):
        load_template(listing)
    with pytest.raises(
        TemplateError,
        match=r"unknown template 'nope': shipped templates are "
        r"fr-deces-volet-medical",
    ):
        load_template("nope")
