"""Golden point names of realistic requests, in FAST's grammar (docs/points.md).

A change here is a change of what users write in their policies: make it on purpose, in
docs/points.md too.
"""

from __future__ import annotations

import pytest

from lunge.http import Request, parse

# Written with "\n"; sent with CRLF. Tokens: a JWT {"alg": "HS256", "typ": "JWT"}.{"sub": "42", "role": "user"}
# and a cookie holding base64 of {"id": 7, "lang": "en"}.
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInJvbGUiOiJ1c2VyIn0.c2lnbmF0dXJl"
PREFS = "eyJpZCI6IDcsICJsYW5nIjogImVuIn0="
GRAPHQL = 'query Orders($first: Int) { orders(first: $first, status: OPEN) { id items(sku: \\"A-1\\") { qty } } }'

SAMPLES = {
    "json_api": f"""PUT /api/v2/users/42/profile.json?fields=name,email&debug HTTP/1.1
Host: app.test
Authorization: Bearer {JWT}
Cookie: session=8f14e45f; prefs={PREFS}
Content-Type: application/json

{{"user": {{"name": "Ann", "tags": ["a", "b"], "age": 31}}}}""",
    "form_post": """POST /login HTTP/1.1
Host: app.test
Content-Type: application/x-www-form-urlencoded
Cookie: csrftoken=Xy12

username=ann&password=s3cr%21t&remember&next=%2Fhome""",
    "multipart_upload": """POST /upload HTTP/1.1
Host: app.test
Content-Type: multipart/form-data; boundary=----Boundary7MA4YWxk

------Boundary7MA4YWxk
Content-Disposition: form-data; name="title"

Holiday
------Boundary7MA4YWxk
Content-Disposition: form-data; name="photo"; filename="beach.jpg"
Content-Type: image/jpeg

JPEGDATA
------Boundary7MA4YWxk--
""",
    "soap_xml": """POST /ws/users HTTP/1.1
Host: app.test
Content-Type: text/xml; charset=utf-8
SOAPAction: "urn:GetUser"

<?xml version="1.0"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <GetUser lang="en"><id>42</id><note><![CDATA[a <b>]]></note></GetUser>
  </soap:Body>
</soap:Envelope>""",
    "graphql_post": f"""POST /graphql HTTP/1.1
Host: app.test
Content-Type: application/json

{{"query": "{GRAPHQL}", "variables": {{"first": 10}}}}""",
    "graphql_get": """GET /graphql?query=%7B%20user(id%3A%20%2242%22)%20%7B%20name%20%7D%20%7D HTTP/1.1
Host: app.test

""",
}

NAMES = {
    "json_api": [
        "URI_value",
        "PATH_0_value", "PATH_1_value", "PATH_2_value", "PATH_3_value",
        "ACTION_NAME_value", "ACTION_EXT_value",
        "GET_fields_value", "GET_debug_value",
        "HEADER_HOST_value",
        "HEADER_AUTHORIZATION_value",
        "HEADER_AUTHORIZATION_JWT_value",
        "HEADER_AUTHORIZATION_JWT_HEADER_HASH_alg_name", "HEADER_AUTHORIZATION_JWT_HEADER_HASH_alg_value",
        "HEADER_AUTHORIZATION_JWT_HEADER_HASH_typ_name", "HEADER_AUTHORIZATION_JWT_HEADER_HASH_typ_value",
        "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_name", "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_value",
        "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_role_name", "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_role_value",
        "HEADER_COOKIE_value",
        "HEADER_COOKIE_COOKIE_session_value",
        "HEADER_COOKIE_COOKIE_prefs_value",
        "HEADER_COOKIE_COOKIE_prefs_BASE64_value",
        "HEADER_COOKIE_COOKIE_prefs_BASE64_JSON_DOC_HASH_id_name",
        "HEADER_COOKIE_COOKIE_prefs_BASE64_JSON_DOC_HASH_id_value",
        "HEADER_COOKIE_COOKIE_prefs_BASE64_JSON_DOC_HASH_lang_name",
        "HEADER_COOKIE_COOKIE_prefs_BASE64_JSON_DOC_HASH_lang_value",
        "HEADER_CONTENT-TYPE_value",
        "POST_JSON_DOC_HASH_user_name",
        "POST_JSON_DOC_HASH_user_HASH_name_name", "POST_JSON_DOC_HASH_user_HASH_name_value",
        "POST_JSON_DOC_HASH_user_HASH_tags_name",
        "POST_JSON_DOC_HASH_user_HASH_tags_ARRAY_0_value", "POST_JSON_DOC_HASH_user_HASH_tags_ARRAY_1_value",
        "POST_JSON_DOC_HASH_user_HASH_age_name", "POST_JSON_DOC_HASH_user_HASH_age_value",
    ],
    "form_post": [
        "URI_value", "ACTION_NAME_value",
        "HEADER_HOST_value", "HEADER_CONTENT-TYPE_value",
        "HEADER_COOKIE_value", "HEADER_COOKIE_COOKIE_csrftoken_value",
        "POST_FORM_URLENCODED_username_value", "POST_FORM_URLENCODED_password_value",
        "POST_FORM_URLENCODED_remember_value", "POST_FORM_URLENCODED_next_value",
    ],
    "multipart_upload": [
        "URI_value", "ACTION_NAME_value",
        "HEADER_HOST_value", "HEADER_CONTENT-TYPE_value",
        "POST_MULTIPART_title_value",
        "POST_MULTIPART_photo_value", "POST_MULTIPART_photo_FILENAME_value",
    ],
    "soap_xml": [
        "URI_value", "PATH_0_value", "ACTION_NAME_value",
        "HEADER_HOST_value", "HEADER_CONTENT-TYPE_value", "HEADER_SOAPACTION_value",
        "POST_XML_XML_DTD_value",
        "POST_XML_XML_TAG_soap:Envelope_XML_ATTR_xmlns:soap_value",
        "POST_XML_XML_TAG_soap:Envelope_XML_TAG_soap:Body_XML_TAG_GetUser_XML_ATTR_lang_value",
        "POST_XML_XML_TAG_soap:Envelope_XML_TAG_soap:Body_XML_TAG_GetUser_XML_TAG_id_value",
        "POST_XML_XML_TAG_soap:Envelope_XML_TAG_soap:Body_XML_TAG_GetUser_XML_TAG_note_value",
    ],
    "graphql_post": [
        "URI_value", "ACTION_NAME_value",
        "HEADER_HOST_value", "HEADER_CONTENT-TYPE_value",
        "POST_JSON_DOC_HASH_query_name", "POST_JSON_DOC_HASH_query_value",
        "POST_JSON_DOC_HASH_query_GRAPHQL_FIELD_orders_ARG_status_value",
        "POST_JSON_DOC_HASH_query_GRAPHQL_FIELD_orders_FIELD_items_ARG_sku_value",
        "POST_JSON_DOC_HASH_variables_name",
        "POST_JSON_DOC_HASH_variables_HASH_first_name", "POST_JSON_DOC_HASH_variables_HASH_first_value",
    ],
    "graphql_get": [
        "URI_value", "ACTION_NAME_value",
        "GET_query_value", "GET_query_GRAPHQL_FIELD_user_ARG_id_value",
        "HEADER_HOST_value",
    ],
}


def sample(key: str) -> Request:
    """The sample request ``key``, as a server would receive it (CRLF line endings)."""
    return Request.parse(SAMPLES[key].replace("\n", "\r\n").encode())


@pytest.mark.parametrize("key", list(SAMPLES))
def test_golden_point_names(key: str) -> None:
    assert [p.name for p in parse(sample(key))] == NAMES[key]


def test_the_issue_examples() -> None:
    token = "eyJpZCI6IDEyM30="  # {"id": 123}
    request = Request.from_url("http://t.test/u?uid=5", "POST",
                               [("X-Token", token), ("Content-Type", "application/json")], b'{"user": {"name": "ann"}}')
    names = [p.name for p in parse(request)]
    for name in ("GET_uid_value", "POST_JSON_DOC_HASH_user_HASH_name_value",
                 "HEADER_X-TOKEN_BASE64_JSON_DOC_HASH_id_value"):
        assert name in names


def test_values_of_the_samples() -> None:
    points = parse(sample("soap_xml"))
    assert points.get("POST_XML_XML_TAG_soap:Envelope_XML_TAG_soap:Body_XML_TAG_GetUser_XML_TAG_note_value").value == "a <b>"  # type: ignore[union-attr]  # noqa: E501
    graphql = parse(sample("graphql_get"))
    assert graphql.get("GET_query_GRAPHQL_FIELD_user_ARG_id_value").value == "42"  # type: ignore[union-attr]
    upload = parse(sample("multipart_upload"))
    assert upload.get("POST_MULTIPART_photo_FILENAME_value").value == "beach.jpg"  # type: ignore[union-attr]
