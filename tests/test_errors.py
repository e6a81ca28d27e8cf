from reconciler.errors import ConfigError, Problem, VendorError
from reconciler.model import Secret


def test_problems_sorted_by_file_and_line() -> None:
    err = ConfigError([Problem("b.yaml", 3, "x", "bad"), Problem("a.yaml", 9, "y", "bad"),
                       Problem("a.yaml", 2, "z", "bad")])
    assert [(p.file, p.line) for p in err.problems] == [("a.yaml", 2), ("a.yaml", 9), ("b.yaml", 3)]
    assert str(err.problems[0]) == "a.yaml:2: z: bad"


def test_vendor_error_names_profile_call_and_campaign() -> None:
    err = VendorError("bad robot id", vendor_code="200204", profile="iflytek", call="task/create")
    named = err.with_campaign("spring-promo")
    assert str(named) == "profile 'iflytek' call task/create campaign 'spring-promo': vendor error 200204: bad robot id"
    assert isinstance(named, VendorError) and named.vendor_code == "200204"


def test_secret_is_masked() -> None:
    s = Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.reveal() == "hunter2"


def test_auth_error_is_a_provider_error_of_its_own_with_or_without_a_vendor_code() -> None:
    from reconciler.errors import AuthError, ProviderError

    missing = AuthError("environment variable(s) $K not set", profile="iflytek")
    assert str(missing) == "profile 'iflytek': environment variable(s) $K not set" and missing.vendor_code == ""
    refused = AuthError("invalid token", vendor_code="10001", profile="iflytek", call="task/query")
    assert str(refused) == "profile 'iflytek' call task/query: vendor error 10001: invalid token"
    named = refused.with_campaign("spring")
    assert isinstance(named, AuthError) and named.vendor_code == "10001" and "campaign 'spring'" in str(named)
    assert isinstance(refused, ProviderError) and not isinstance(refused, VendorError)
