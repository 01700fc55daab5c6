"""Instruments for the field's open questions (issue 20): each works on a
config or a run folder and answers with numbers and a figure."""
