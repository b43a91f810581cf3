"""schemathesis checks of scripts/fuzz for GraphQL, loaded through SCHEMATHESIS_HOOKS.

GraphQL answers a refused request with 200 and `errors` carrying `extensions.code` (INVALID_INPUT,
NOT_FOUND, ...) by design, which schemathesis' own not_a_server_error counts as a failure. This
check fails on what is a server error here: a 5xx, an answer that is not JSON, or an error whose
code is INTERNAL.
"""

import schemathesis


@schemathesis.check
def graphql_no_internal_error(ctx, response, case):
    if response.status_code >= 500:
        raise AssertionError(f"server error {response.status_code}")
    try:
        body = response.json()
    except ValueError as err:
        raise AssertionError(f"the answer is not JSON: {err}") from None
    for error in (body or {}).get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL":
            raise AssertionError(f"internal error: {error.get('message')}")
