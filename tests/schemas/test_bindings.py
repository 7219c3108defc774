"""Code bindings without a server: package paths, languages, stale in-progress records."""

from __future__ import annotations

import time

import pytest

from schemas.bindings import FAILED, IN_PROGRESS, STALE_AFTER_S, check_language, package_path, shown_status
from schemas.errors import BadRequestException


def test_package_paths_follow_the_schema_name() -> None:
    assert package_path("aws.ec2@EC2InstanceStateChangeNotification") == (
        "schema/aws/ec2/ec2instancestatechangenotification"
    )
    assert package_path("aws.partner/saas.com/1@Order Created") == "schema/aws/partner/saas/com/_1/order_created"
    assert package_path("plain") == "schema/plain/plain"


@pytest.mark.parametrize("language", ["Java8", "TypeScript3", "Go1"])
def test_languages_we_do_not_generate_are_bad_requests(language: str) -> None:
    with pytest.raises(BadRequestException, match=f"Language {language} is not supported .a language of the Schemas"):
        check_language(language)


def test_an_unknown_language_says_so() -> None:
    with pytest.raises(BadRequestException, match="not a language of the Schemas API"):
        check_language("Cobol")
    check_language("Python36")


def test_an_in_progress_record_left_by_a_dead_process_reads_as_failed() -> None:
    fresh = {"Status": IN_PROGRESS, "LastModified": time.time()}
    old = {"Status": IN_PROGRESS, "LastModified": time.time() - STALE_AFTER_S - 1}
    assert shown_status(fresh) == IN_PROGRESS
    assert shown_status(old) == FAILED
