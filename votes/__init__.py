"""Council polls and ballots, majority and quorum rules, the hash-chained ballot log. Imports only council."""
