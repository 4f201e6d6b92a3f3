"""``python -m course_utils.grading`` is the ``course-grade`` command."""

import sys

from course_utils.grading import main

if __name__ == "__main__":
    sys.exit(main())
