"""Distribution lists of a project and their members."""

from piccolo.columns import ForeignKey, Timestamptz, Varchar
from piccolo.columns.readable import Readable
from piccolo.table import Table

from clarion.organizations.tables import Application, Project
from clarion.users.tables import Assignment


class DistributionList(Table):
    """A named set of assignments in a project, optionally pinned to an application."""

    project = ForeignKey(Project, null=False)
    application = ForeignKey(Application, null=True, default=None)
    name = Varchar(length=255)
    created = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:  # how the console (/admin/) names a row in pickers and links
        return Readable(template="%s", columns=[cls.name])


class DistributionListMember(Table):
    """One assignment in a distribution list."""

    distribution_list = ForeignKey(DistributionList, null=False)
    assignment = ForeignKey(Assignment, null=False)
    created = Timestamptz()
