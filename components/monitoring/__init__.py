"""Monitoring of the site (pure parts): the rsyslog error rules from the services' monitor_error/ignore_error
and the scrape targets. The host side is hostsetup/monitoring-*.sh, the alert rules are monitoring/rules/."""
