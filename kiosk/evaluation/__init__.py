"""The evaluation: anonymous figures from the survey and the sessions' facts."""
