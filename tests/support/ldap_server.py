"""A real OpenLDAP slapd for tests, started by python-ldap's slapdtest in a private directory.

The directory looks like a small AD: people are inetOrgPerson entries with Thai names in language-tagged
attributes (givenName;lang-th), groups are AD `group` objects (msuser schema) with `member`, and one role
group contains another group, so nested membership is exercised.
"""

from __future__ import annotations

import base64
from pathlib import Path

from slapdtest import SlapdObject

SUFFIX = "dc=example,dc=go,dc=th"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
BIND_DN = f"cn=svc-dsign,{PEOPLE}"
BIND_PASSWORD = "svc-secret-2026"
CA_OFFICERS = f"cn=dsign-ca-officers,{GROUPS}"
PKI_TEAM = f"cn=pki-team,{GROUPS}"
AUDITORS = f"cn=dsign-auditors,{GROUPS}"
# Users: uid, password, given/sn English, given/sn Thai, title, mail.
USERS = [
    (
        "somchai.k",
        "Ldap-pass-1",
        "Somchai",
        "Kittisak",
        "สมชาย",
        "กิตติศักดิ์",
        "นักวิชาการคอมพิวเตอร์",
        "somchai.k@example.go.th",
    ),
    ("wilai.s", "Ldap-pass-2", "Wilai", "Suksan", "วิไล", "สุขสันต์", "ผู้ตรวจสอบภายใน", "wilai.s@example.go.th"),
    ("prasert.m", "Ldap-pass-3", "Prasert", "Mankong", "ประเสริฐ", "มั่นคง", "เจ้าหน้าที่ธุรการ", "prasert.m@example.go.th"),
]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def directory_ldif() -> str:
    ad_group = (
        "objectClass: group\ninstanceType: 4\nnTSecurityDescriptor:: AA==\ngroupType: -2147483646\n"
        f"objectCategory: cn=Group,cn=Schema,cn=Configuration,{SUFFIX}\n"
    )
    parts = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example Department\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
        f"dn: {BIND_DN}\nobjectClass: inetOrgPerson\ncn: svc-dsign\nsn: service\nuserPassword: {BIND_PASSWORD}\n",
    ]
    for uid, password, given, sn, given_th, sn_th, title, mail in USERS:
        parts.append(
            f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {given} {sn}\n"
            f"givenName: {given}\nsn: {sn}\ngivenName;lang-th:: {_b64(given_th)}\nsn;lang-th:: {_b64(sn_th)}\n"
            f"title:: {_b64(title)}\nmail: {mail}\nuserPassword: {password}\n"
        )
    parts.append(f"dn: {PKI_TEAM}\ncn: pki-team\n{ad_group}member: uid=somchai.k,{PEOPLE}\n")
    parts.append(f"dn: {CA_OFFICERS}\ncn: dsign-ca-officers\n{ad_group}member: {PKI_TEAM}\n")
    parts.append(f"dn: {AUDITORS}\ncn: dsign-auditors\n{ad_group}member: uid=wilai.s,{PEOPLE}\n")
    return "\n".join(parts)


def start_directory(*, workdir: Path) -> SlapdObject:
    """Start slapd on a free loopback port with the directory above; call .stop() when done."""

    class Directory(SlapdObject):
        TMPDIR = str(workdir)
        suffix = SUFFIX
        slapd_loglevel = "0"
        openldap_schema_files = ("core.ldif", "cosine.ldif", "inetorgperson.ldif", "nis.ldif", "msuser.ldif")

    server = Directory()
    server.start()
    server.ldapadd(directory_ldif())
    return server


def environment(server: SlapdObject) -> dict[str, str]:
    """The LDAP_* variables an operator would set for this directory."""
    return {
        "LDAP_SERVER_URI": server.ldap_uri,
        "LDAP_BIND_DN": BIND_DN,
        "LDAP_BIND_PASSWORD": BIND_PASSWORD,
        "LDAP_USER_SEARCH_BASE": PEOPLE,
        # This OpenLDAP's msuser schema defines sAMAccountName without an equality rule, so tests use uid.
        "LDAP_USER_FILTER": "(uid=%(user)s)",
        "LDAP_GROUP_SEARCH_BASE": GROUPS,
        "LDAP_GROUP_TYPE": "nested_active_directory",
        "LDAP_USER_ATTR_MAP": (
            "first_name=givenName,last_name=sn,email=mail,first_name_th=givenName;lang-th,"
            "last_name_th=sn;lang-th,position=title"
        ),
        "LDAP_ROLE_GROUPS": f"ca_officer={CA_OFFICERS};auditor={AUDITORS}",
    }
