"""CyberArk's own Python SDK (PyPI conjur-api) against the Conjur fake: authenticate with an
API key, read one variable, then a batch. Prints one JSON object; values are never logged
anywhere else. Arguments: url account login ca_file variable [variable ...]; the API key comes
on stdin so it appears in no process listing."""
import asyncio
import json
import sys

from conjur_api import Client
from conjur_api.models import ConjurConnectionInfo, CredentialsData, SslVerificationMode
from conjur_api.providers import AuthnAuthenticationStrategy, SimpleCredentialsProvider
from conjur_api.errors.errors import HttpStatusError


async def main() -> None:
    url, account, login, ca_file, *variables = sys.argv[1:]
    api_key = sys.stdin.read().strip()
    provider = SimpleCredentialsProvider()
    provider.save(CredentialsData(username=login, api_key=api_key, machine=url))
    client = Client(
        ConjurConnectionInfo(conjur_url=url, account=account, cert_file=ca_file),
        authn_strategy=AuthnAuthenticationStrategy(provider),
        ssl_verification_mode=SslVerificationMode.CA_BUNDLE,
    )
    out: dict = {}
    out["whoami"] = await client.whoami()
    out["single"] = (await client.get(variables[0])).decode("utf-8")
    out["batch"] = await client.get_many(*variables)
    if len(variables) > 1:
        try:
            await client.get("no/such/variable")
        except HttpStatusError as err:
            out["missing"] = {"status": err.status, "body": json.loads(err.response)}
    print(json.dumps(out))


asyncio.run(main())
