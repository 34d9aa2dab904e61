"""The clerk's back office: preparing meetings (agenda, invitation, minutes) and papers/motions.

Services here take plain data and a session; the web layer (``web.controllers.backoffice_*``) owns the
forms, guards and the composition with ``transcripts`` (minutes drafts), which ``council`` must not
import. Every change goes through :func:`council.backoffice.audit.record_change`. The invitation's
mail goes through the job queue (``mailing``, ``jobs``) to members and to the subscribers of the
organization's invitations (``subscriptions``).
"""
