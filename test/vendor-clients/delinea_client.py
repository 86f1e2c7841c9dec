"""Delinea's own Secret Server client (python-tss-sdk) against the vaultscan fake.

Usage: delinea_client.py <base_url> <username> <secret_id> <secret_path> <secret_name> <denied_id>
The password comes from DELINEA_PASSWORD, the CA to trust from REQUESTS_CA_BUNDLE.
Prints one JSON object: what the SDK parsed. Secret values are printed on purpose: the fake's
values are test data, and the test compares them.
"""

import json
import os
import sys

from delinea.secrets.server import (
    PasswordGrantAuthorizer,
    SecretServer,
    SecretServerClientError,
    SecretServerError,
    ServerSecret,
)


def field_text(field):
    # get_secret replaces a file field's itemValue with the response of /fields/{slug}.
    value = field.value
    return value.text if hasattr(value, "text") else value


def summary(secret):
    return {
        "id": secret.id,
        "name": secret.name,
        "folderId": secret.folder_id,
        "checkOutEnabled": secret.check_out_enabled,
        "lastHeartBeatCheck": secret.last_heart_beat_check.isoformat(),
        "fields": {slug: field_text(f) for slug, f in secret.fields.items()},
    }


def main():
    base_url, username, secret_id, secret_path, secret_name, denied_id = sys.argv[1:7]
    password = os.environ["DELINEA_PASSWORD"]
    out = {}

    server = SecretServer(
        base_url,
        PasswordGrantAuthorizer(base_url, username, password),
        api_path_uri="/api/v1",
    )
    out["byId"] = summary(ServerSecret(**server.get_secret(int(secret_id))))
    out["byPath"] = summary(ServerSecret(**server.get_secret_by_path(secret_path)))

    search = json.loads(
        server.search_secrets(
            query_params={"filter.searchText": secret_name, "filter.isExactMatch": "true"}
        )
    )
    out["search"] = {"total": search["total"], "ids": [r["id"] for r in search["records"]]}

    # search-total, then a search that takes that many, as the SDK does it.
    out["folderSecretIds"] = server.get_secret_ids_by_folderid(9)

    try:
        server.get_secret(int(denied_id))
        out["denied"] = None
    except SecretServerClientError as err:
        out["denied"] = err.message

    wrong = SecretServer(
        base_url,
        PasswordGrantAuthorizer(base_url, username, password + "-wrong"),
        api_path_uri="/api/v1",
    )
    try:
        wrong.get_secret(int(secret_id))
        out["wrongPassword"] = None
    except SecretServerError as err:
        out["wrongPassword"] = err.message

    print(json.dumps(out))


if __name__ == "__main__":
    main()
