"""Stand-in for sqlalchemy_utils, which ADC's database models import but its API never
uses: `@aggregated(relation, column)` becomes that plain column."""


def aggregated(relationship, column):
    return lambda fn: column
