"""Every document s2p can send is valid against Stash's schema: the subset
kept in tests/, and Stash's upstream schema when it is at hand ($STASH_SCHEMA_DIR).  The
subset itself must agree with upstream, field by field."""

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType

from fakestash import UPSTREAM_HINT, schemas, validation_errors
from s2p.stash.queries import ALL_DOCUMENTS


@pytest.mark.parametrize("document", ALL_DOCUMENTS, ids=lambda d: d.name)
def test_document_is_valid(document):
    problems = validation_errors(document.text)
    assert problems["subset"] == []
    if "upstream" in problems:
        assert problems["upstream"] == []


def test_documents_use_only_variables_for_values():
    for document in ALL_DOCUMENTS:
        body = document.text.split("fragment")[0]
        assert '"' not in body, f"{document.name} has a literal string value"


def test_subset_agrees_with_upstream():
    found = schemas()
    if "upstream" not in found:
        pytest.skip(f"Stash's own schema is not at hand: {UPSTREAM_HINT}")
    subset, upstream = found["subset"], found["upstream"]
    for name, kind in subset.type_map.items():
        if name.startswith("__"):
            continue
        theirs = upstream.type_map.get(name)
        assert theirs is not None, f"type {name} is not in Stash's schema"
        assert type(theirs) is type(kind), name
        if isinstance(kind, (GraphQLObjectType, GraphQLInputObjectType)):
            for field_name, field in kind.fields.items():
                assert field_name in theirs.fields, f"{name}.{field_name} is not in Stash's schema"
                assert str(field.type) == str(theirs.fields[field_name].type), f"{name}.{field_name}"
                for arg_name, arg in getattr(field, "args", {}).items():
                    assert str(arg.type) == str(theirs.fields[field_name].args[arg_name].type), \
                        f"{name}.{field_name}({arg_name})"
        if isinstance(kind, GraphQLEnumType):
            assert set(kind.values) <= set(theirs.values), name
