"""Sample duty-list files shipped with the package (a draft for 青山镇)."""
