"""BeyondTrust's official Python client (PyPI beyondtrust-bips-library) against vaultscan's fake.

Run by test/vault-beyondtrust-vendor.test.ts with tools/venv/bin/python. Settings come from the
environment (BT_URL, BT_AUTH=apikey|oauth, BT_API_KEY or BT_CLIENT_ID + BT_CLIENT_SECRET,
BT_SYSTEM, BT_ACCOUNT, BT_CA_FILE); REQUESTS_CA_BUNDLE names the fake's test CA as well. Prints
one JSON object with what the library parsed; exits non-zero with the library's error otherwise.
The fake's secrets are test values, so printing them is the point: the test compares them.
"""

import json
import os
import sys

from secrets_safe_library import authentication, credentials, managed_account, requests as bt_requests


def main() -> int:
    env = os.environ
    common = {
        "api_url": env["BT_URL"],
        "verify_ca": env["BT_CA_FILE"],
        "timeout_connection": 10,
        "timeout_request": 10,
    }
    if env.get("BT_AUTH", "apikey") == "oauth":
        auth = authentication.Authentication(
            client_id=env["BT_CLIENT_ID"], client_secret=env["BT_CLIENT_SECRET"], **common
        )
    else:
        auth = authentication.Authentication(api_key=env["BT_API_KEY"], **common)

    signin = auth.get_api_access()
    if signin.status_code != 200:
        print(f"sign-in failed: {signin.status_code} {signin.text}", file=sys.stderr)
        return 2
    out = {"signedInAs": signin.json()["UserName"]}

    accounts = managed_account.ManagedAccount(authentication=auth)
    if env.get("BT_MODE") == "failure":
        # The library's own flow against a fake switched to fail: how it reports it.
        try:
            accounts.get_secret(f'{env["BT_SYSTEM"]}/{env["BT_ACCOUNT"]}')
        except Exception as err:  # the library's exceptions carry the vendor text and status
            out["error"] = {"type": type(err).__name__, "message": str(err)}
        print(json.dumps(out))
        return 0

    # Both names: one object. The library's own flow (lookup, request, read, check-in).
    account = accounts.get_managed_accounts(system_name=env["BT_SYSTEM"], account_name=env["BT_ACCOUNT"])
    out["account"] = {"SystemId": account["SystemId"], "AccountId": account["AccountId"]}
    out["flow"] = accounts.get_secret(f'{env["BT_SYSTEM"]}/{env["BT_ACCOUNT"]}')

    # System name only: a list.
    listed = accounts.get_managed_accounts(system_name=env["BT_SYSTEM"])
    out["listedIsList"] = isinstance(listed, list)

    # The Requests and Credentials modules (lower-case paths): a request, the key, a check-in.
    req = bt_requests.Request(authentication=auth)
    request_id, status = req.post_request(
        system_id=account["SystemId"],
        account_id=account["AccountId"],
        duration_minutes=5,
        reason="vendor client check",
        conflict_option="reuse",
    )
    out["requestId"] = request_id
    out["requestStatus"] = status
    creds = credentials.Credentials(authentication=auth)
    out["password"] = creds.get_credentials_by_request_id(request_id)
    out["dsskey"] = creds.get_credentials_by_request_id(request_id, type="dsskey")
    req.put_request_checkin(request_id, reason="done")

    out["signedOut"] = auth.sign_app_out() is True
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
